"""The UDP datagram listener, on real sockets on 127.0.0.1: answers, limits, drain."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import pytest

from dh_serverless.core.api import DatagramListener
from dh_serverless.hookspecs.metrics import Metrics

pytestmark = pytest.mark.timeout(30)


class Client(asyncio.DatagramProtocol):
    """A UDP client that collects what comes back."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.received.put_nowait(data)

    async def answer(self, within: float = 5.0) -> bytes:
        return await asyncio.wait_for(self.received.get(), within)


@pytest.fixture
async def client_to():
    made: list[asyncio.DatagramTransport] = []

    async def make(port: int) -> tuple[asyncio.DatagramTransport, Client]:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            Client, remote_addr=("127.0.0.1", port)
        )
        made.append(transport)
        return transport, protocol

    yield make
    for transport in made:
        transport.close()


async def until(condition, within: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_each_datagram_is_handled_and_answered(client_to):
    listener: DatagramListener

    async def upper(data: bytes, peer: Any) -> None:
        listener.send(data.upper(), peer)

    listener = DatagramListener(upper, "127.0.0.1", 0)
    port = await listener.start()
    try:
        assert port > 0
        assert listener.address == f"127.0.0.1:{port}"
        transport, client = await client_to(port)
        transport.sendto(b"hello")
        assert await client.answer() == b"HELLO"
        transport.sendto(b"again")
        assert await client.answer() == b"AGAIN"
    finally:
        await listener.stop(1.0)


async def test_a_datagram_over_the_size_limit_is_dropped_and_counted(client_to):
    metrics = Metrics()
    seen: list[bytes] = []

    async def record(data: bytes, peer: Any) -> None:
        seen.append(data)
        listener.send(b"ok", peer)

    listener = DatagramListener(
        record, "127.0.0.1", 0, max_datagram_bytes=10, metrics=metrics, trigger="u"
    )
    port = await listener.start()
    try:
        transport, client = await client_to(port)
        transport.sendto(b"x" * 11)
        transport.sendto(b"y" * 10)
        assert await client.answer() == b"ok"
        assert seen == [b"y" * 10]
        assert listener.counts.dropped == {"too_large": 1}
        assert metrics.families["dh_listener_dropped"].cells[("u", "udp", "too_large")].value == 1
    finally:
        await listener.stop(1.0)


async def test_datagrams_beyond_the_in_flight_bound_are_dropped_not_queued(client_to):
    metrics = Metrics()
    release = asyncio.Event()
    handled: list[bytes] = []

    async def slow(data: bytes, peer: Any) -> None:
        await release.wait()
        handled.append(data)

    listener = DatagramListener(slow, "127.0.0.1", 0, max_in_flight=2, metrics=metrics, trigger="u")
    port = await listener.start()
    try:
        transport, _ = await client_to(port)
        for n in range(5):
            transport.sendto(b"%d" % n)
        await until(lambda: listener.counts.dropped.get("busy") == 3)
        assert listener.in_flight == 2
        assert metrics.families["dh_listener_active"].cells[("u", "udp")].read() == 2
        release.set()
        await until(lambda: len(handled) == 2)
        assert sorted(handled) == [b"0", b"1"]
        transport.sendto(b"5")  # room again
        await until(lambda: len(handled) == 3)
    finally:
        await listener.stop(1.0)


async def test_stop_lets_datagrams_in_flight_answer_then_receives_no_more(client_to):
    started = asyncio.Event()
    handled: list[bytes] = []

    async def slow(data: bytes, peer: Any) -> None:
        handled.append(data)
        started.set()
        await asyncio.sleep(0.2)
        listener.send(b"done " + data, peer)

    listener = DatagramListener(slow, "127.0.0.1", 0)
    port = await listener.start()
    transport, client = await client_to(port)
    transport.sendto(b"first")
    await asyncio.wait_for(started.wait(), 5)
    stopping = asyncio.ensure_future(listener.stop(5.0))
    await asyncio.sleep(0)
    transport.sendto(b"late")  # arrives while stopping: not handled
    assert await client.answer() == b"done first"
    await asyncio.wait_for(stopping, 5)
    assert handled == [b"first"]


async def test_stop_cancels_handlers_past_the_grace_and_logs_no_error(client_to, caplog):
    started = asyncio.Event()
    errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: errors.append(context))

    async def stuck(data: bytes, peer: Any) -> None:
        started.set()
        await asyncio.sleep(3600)

    listener = DatagramListener(stuck, "127.0.0.1", 0)
    port = await listener.start()
    transport, _ = await client_to(port)
    transport.sendto(b"x")
    await asyncio.wait_for(started.wait(), 5)
    with caplog.at_level(logging.DEBUG):
        await asyncio.wait_for(listener.stop(0.1), 5)
    assert listener.in_flight == 0
    assert errors == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_handler_failures_are_logged_throttled_and_the_listener_goes_on(client_to, caplog):
    async def fails(data: bytes, peer: Any) -> None:
        if data != b"ping":
            raise ValueError(f"bad datagram {data!r}")
        listener.send(b"pong", peer)

    listener = DatagramListener(fails, "127.0.0.1", 0, trigger="udp1")
    port = await listener.start()
    try:
        transport, client = await client_to(port)
        with caplog.at_level(logging.DEBUG, logger="dh_serverless.serving"):
            for n in range(5):
                transport.sendto(b"bad %d" % n)
            transport.sendto(b"ping")
            assert await client.answer() == b"pong"
            await until(lambda: len(caplog.records) >= 5)
    finally:
        await listener.stop(1.0)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # the first; the next 99 at debug level
    assert "udp1: datagram from 127.0.0.1:" in warnings[0].getMessage()
    assert "ValueError: bad datagram" in warnings[0].getMessage()


async def test_a_taken_port_is_an_error_naming_the_address():
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind(("127.0.0.1", 0))
    port = taken.getsockname()[1]

    async def nothing(data: bytes, peer: Any) -> None:
        pass

    try:
        listener = DatagramListener(nothing, "127.0.0.1", port)
        with pytest.raises(
            OSError, match=rf"cannot listen on 127\.0\.0\.1:{port} \(UDP\): .*in use"
        ):
            await listener.start()
    finally:
        taken.close()
    listener = DatagramListener(nothing, "127.0.0.1", 0)
    await listener.start()
    with pytest.raises(RuntimeError, match="already started"):
        await listener.start()
    await listener.stop(1.0)
    await listener.stop(1.0)  # twice: nothing more to do
    with pytest.raises(OSError, match=r"127\.0\.0\.1:0 \(UDP\): port 0 cannot be shared"):
        await DatagramListener(nothing, "127.0.0.1", 0, reuse_port=True).start()
