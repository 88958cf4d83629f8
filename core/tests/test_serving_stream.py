"""The TCP stream listener, on real sockets on 127.0.0.1: lines, limits, timeouts, close."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dh_serverless.core.api import Connection, MessageTooLarge, StreamListener
from dh_serverless.hookspecs.metrics import Metrics
from dh_serverless.testing.ports import free_port

pytestmark = pytest.mark.timeout(30)


async def echo(conn: Connection) -> None:
    """Answer each line upper-cased; say so when a line is too long."""
    while True:
        try:
            line = await conn.read_line()
        except MessageTooLarge:
            await conn.send(b"ERR too long\n")
            continue
        if line is None:
            return
        await conn.send(line.upper() + b"\n")


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def closed_by_server(reader: asyncio.StreamReader, within: float = 5.0) -> bool:
    """True when the server closes the connection (EOF or reset) within ``within`` seconds."""
    try:
        data = await asyncio.wait_for(reader.read(1024), within)
    except ConnectionError:
        return True
    return data == b""


@pytest.fixture
def loop_errors() -> list[dict[str, Any]]:
    """What reaches the loop's exception handler (where asyncio's tracebacks are logged)."""
    return []


def catch_loop_errors(seen: list[dict[str, Any]]) -> None:
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: seen.append(context))


async def test_lines_in_answers_out_on_the_port_the_os_gave():
    listener = StreamListener(echo, "127.0.0.1", 0)
    port = await listener.start()
    try:
        assert port > 0
        assert listener.port == port
        assert listener.address == f"127.0.0.1:{port}"
        reader, writer = await connect(port)
        writer.write(b"hello\r\nwor")
        await writer.drain()
        assert await reader.readline() == b"HELLO\n"
        writer.write(b"ld\n")
        assert await reader.readline() == b"WORLD\n"
        assert len(listener.connections) == 1
        writer.write(b"last, no newline")
        writer.write_eof()
        assert await reader.readline() == b"LAST, NO NEWLINE\n"
        assert await closed_by_server(reader)
        writer.close()
    finally:
        await listener.stop(1.0)
    assert listener.connections == frozenset()


async def test_a_line_over_the_limit_is_skipped_and_the_connection_goes_on():
    metrics = Metrics()
    listener = StreamListener(
        echo, "127.0.0.1", 0, max_message_bytes=16, metrics=metrics, trigger="t"
    )
    port = await listener.start()
    try:
        reader, writer = await connect(port)
        writer.write(b"x" * 100_000 + b"\nok\n" + b"y" * 17 + b"\n" + b"z" * 16 + b"\n")
        assert await reader.readline() == b"ERR too long\n"
        assert await reader.readline() == b"OK\n"
        assert await reader.readline() == b"ERR too long\n"
        assert await reader.readline() == b"Z" * 16 + b"\n"
        writer.close()
    finally:
        await listener.stop(1.0)
    assert listener.counts.dropped == {"too_large": 2}
    family = metrics.families["dh_listener_dropped"]
    assert family.cells[("t", "tcp", "too_large")].value == 2


async def test_connections_beyond_the_limit_are_closed_at_once():
    metrics = Metrics()
    listener = StreamListener(echo, "127.0.0.1", 0, max_connections=2, metrics=metrics, trigger="t")
    port = await listener.start()
    try:
        kept = [await connect(port) for _ in range(2)]
        for reader, writer in kept:  # both served (and registered)
            writer.write(b"a\n")
            assert await reader.readline() == b"A\n"
        reader, writer = await connect(port)
        assert await closed_by_server(reader)
        assert listener.counts.dropped == {"max_connections": 1}
        assert metrics.families["dh_listener_active"].cells[("t", "tcp")].read() == 2
        kept[0][1].close()
        await kept[0][1].wait_closed()
        for _ in range(100):  # the freed place is taken by the next connection
            if len(listener.connections) < 2:
                break
            await asyncio.sleep(0.01)
        reader, writer = await connect(port)
        writer.write(b"b\n")
        assert await reader.readline() == b"B\n"
    finally:
        await listener.stop(1.0)


async def test_an_idle_connection_is_closed_after_the_idle_timeout():
    listener = StreamListener(echo, "127.0.0.1", 0, idle_timeout=0.2)
    port = await listener.start()
    try:
        reader, writer = await connect(port)
        writer.write(b"half a li")  # never finished
        assert await closed_by_server(reader, within=5.0)
        assert listener.counts.dropped == {"idle_timeout": 1}
    finally:
        await listener.stop(1.0)


async def test_a_peer_that_does_not_read_is_closed_after_the_idle_timeout():
    failures: list[BaseException] = []

    async def flood(conn: Connection) -> None:
        try:
            while True:
                await conn.send(b"x" * 65536)
        except ConnectionError as exc:
            failures.append(exc)
            raise

    listener = StreamListener(flood, "127.0.0.1", 0, idle_timeout=0.3)
    port = await listener.start()
    try:
        _, writer = await connect(port)  # never reads
        for _ in range(300):
            if failures:
                break
            await asyncio.sleep(0.02)
        assert failures
        assert "did not read" in str(failures[0])
        assert listener.counts.dropped == {"idle_timeout": 1}
        writer.close()
    finally:
        await listener.stop(1.0)


async def test_stop_ends_idle_connections_now_and_lets_busy_ones_finish():
    release = asyncio.Event()

    async def slow(conn: Connection) -> None:
        while (line := await conn.read_line()) is not None:
            if line == b"slow":
                await release.wait()
            await conn.send(line + b" done\n")

    listener = StreamListener(slow, "127.0.0.1", 0)
    port = await listener.start()
    idle_reader, idle_writer = await connect(port)
    busy_reader, busy_writer = await connect(port)
    busy_writer.write(b"slow\n")
    await busy_writer.drain()
    for _ in range(100):
        if len(listener.connections) == 2:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    stopping = asyncio.ensure_future(listener.stop(5.0))
    assert await closed_by_server(idle_reader, within=2.0)  # idle: closed at once
    assert not stopping.done()
    release.set()
    assert await busy_reader.readline() == b"slow done\n"  # busy: its answer still arrives
    assert await closed_by_server(busy_reader)  # then it is closed: no next message
    await asyncio.wait_for(stopping, 5.0)
    with pytest.raises(ConnectionRefusedError):
        await connect(port)  # no longer accepting
    idle_writer.close()
    busy_writer.close()


async def test_stop_cancels_a_handler_past_the_grace_without_a_traceback(caplog, loop_errors):
    catch_loop_errors(loop_errors)
    started = asyncio.Event()

    async def stuck(conn: Connection) -> None:
        await conn.read_line()
        started.set()
        await asyncio.sleep(3600)

    listener = StreamListener(stuck, "127.0.0.1", 0)
    port = await listener.start()
    reader, writer = await connect(port)
    writer.write(b"go\n")
    await asyncio.wait_for(started.wait(), 5)
    with caplog.at_level(logging.DEBUG):
        await asyncio.wait_for(listener.stop(0.1), 5)
        await asyncio.sleep(0.05)  # the connection task's done callbacks run
    assert await closed_by_server(reader)
    assert loop_errors == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    writer.close()


async def test_shutdown_of_an_idle_connection_logs_no_cancelled_error(caplog, loop_errors):
    catch_loop_errors(loop_errors)
    listener = StreamListener(echo, "127.0.0.1", 0)
    port = await listener.start()
    reader, writer = await connect(port)
    writer.write(b"one\n")
    assert await reader.readline() == b"ONE\n"  # now idle, waiting for the next line
    with caplog.at_level(logging.DEBUG):
        await listener.stop(1.0)
        await asyncio.sleep(0.05)
    assert await closed_by_server(reader)
    assert loop_errors == []
    assert "CancelledError" not in caplog.text
    writer.close()


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the bug of Python 3.11's asyncio")
async def test_python_3_11_start_server_logs_cancelled_error_when_shutdown_cancels_idle_conn(
    loop_errors,
):
    """The bug the listener avoids, reproduced with ``asyncio.start_server`` as the docs use it:
    cancel the task of an idle connection at shutdown and 3.11 logs a ``CancelledError``
    traceback (``Exception in callback StreamReaderProtocol.connection_made.<locals>.callback``)."""
    catch_loop_errors(loop_errors)
    tasks: set[asyncio.Task[Any]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            while line := await reader.readline():
                writer.write(line)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    reader, writer = await connect(server.sockets[0].getsockname()[1])
    writer.write(b"one\n")
    assert await reader.readline() == b"one\n"
    server.close()
    for task in tasks:
        task.cancel()
    await server.wait_closed()
    await asyncio.sleep(0.05)
    writer.close()
    assert any(isinstance(c.get("exception"), asyncio.CancelledError) for c in loop_errors)


async def test_a_handler_that_raises_is_logged_and_the_listener_goes_on(caplog):
    async def picky(conn: Connection) -> None:
        line = await conn.read_line()
        if line == b"boom":
            raise RuntimeError("picky handler")
        await conn.send(b"fine\n")

    listener = StreamListener(picky, "127.0.0.1", 0, trigger="lines")
    port = await listener.start()
    try:
        reader, writer = await connect(port)
        writer.write(b"boom\n")
        assert await closed_by_server(reader)
        reader, writer = await connect(port)
        writer.write(b"hi\n")
        assert await reader.readline() == b"fine\n"
    finally:
        await listener.stop(1.0)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "lines: connection from 127.0.0.1:" in errors[0].getMessage()
    assert "picky handler" in caplog.text


async def test_a_taken_port_is_an_error_naming_the_address():
    first = StreamListener(echo, "127.0.0.1", 0)
    port = await first.start()
    try:
        second = StreamListener(echo, "127.0.0.1", port)
        with pytest.raises(
            OSError, match=rf"cannot listen on 127\.0\.0\.1:{port} \(TCP\): .*in use"
        ):
            await second.start()
        with pytest.raises(RuntimeError, match="already started"):
            await first.start()
    finally:
        await first.stop(1.0)
    await StreamListener(echo, "127.0.0.1", 0).stop(1.0)  # stop before start: nothing to do
    with pytest.raises(OSError, match=r"127\.0\.0\.1:0 \(TCP\): port 0 cannot be shared"):
        await StreamListener(echo, "127.0.0.1", 0, reuse_port=True).start()


async def test_serving_processes_share_one_port_when_asked():
    port = free_port()
    first = StreamListener(echo, "127.0.0.1", port, reuse_port=True)
    second = StreamListener(echo, "127.0.0.1", port, reuse_port=True)
    assert await first.start() == port
    try:
        assert await second.start() == port
        reader, writer = await connect(port)
        writer.write(b"shared\n")
        assert await reader.readline() == b"SHARED\n"
        writer.close()
    finally:
        await second.stop(1.0)
        await first.stop(1.0)


async def test_ipv6_addresses_are_written_in_brackets():
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this host")
    listener = StreamListener(echo, "::1", 0)
    try:
        port = await listener.start()
    except OSError:
        pytest.skip("::1 cannot be bound here")
    try:
        assert listener.address == f"[::1]:{port}"
        reader, writer = await asyncio.open_connection("::1", port)
        writer.write(b"six\n")
        assert await reader.readline() == b"SIX\n"
        writer.close()
    finally:
        await listener.stop(1.0)


# -- the line reader, fuzzed ---------------------------------------------------------------


class _Writer:
    """What a :class:`Connection` asks of its writer, for feeding its reader directly."""

    def __init__(self) -> None:
        self.closed = False

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 1)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


LIMIT = 8
lines = st.lists(
    st.tuples(
        st.binary(max_size=3 * LIMIT).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b"")),
        st.booleans(),
    ),
    max_size=8,
)


@given(lines=lines, last=st.binary(max_size=2 * LIMIT), cuts=st.lists(st.integers(1, 7)))
def test_read_line_returns_every_line_and_skips_the_long_ones(lines, last, cuts):
    last = last.replace(b"\n", b"")
    wire = b"".join(body + (b"\r\n" if crlf else b"\n") for body, crlf in lines) + last
    expected: list[bytes | str] = []
    for body, crlf in lines:
        raw = body + (b"\r" if crlf else b"")
        expected.append("too large" if len(raw) > LIMIT else body)
    if last:
        expected.append("too large" if len(last) > LIMIT else last)

    async def run() -> list[bytes | str]:
        reader = asyncio.StreamReader(limit=LIMIT)
        listener = StreamListener(echo, "127.0.0.1", 0, max_message_bytes=LIMIT)
        conn = Connection(reader, _Writer(), listener)  # type: ignore[arg-type]
        rest, sizes = wire, iter(cuts)
        while rest:
            size = next(sizes, len(rest))
            reader.feed_data(rest[:size])
            rest = rest[size:]
        reader.feed_eof()
        seen: list[bytes | str] = []
        for _ in range(len(expected) + 2):
            try:
                line = await conn.read_line()
            except MessageTooLarge:
                seen.append("too large")
                continue
            if line is None:
                break
            seen.append(line)
        return seen

    assert asyncio.run(run()) == expected


@given(st.lists(st.binary(min_size=1, max_size=64), max_size=20))
def test_read_line_is_bounded_and_never_raises_anything_else(chunks):
    async def run() -> None:
        reader = asyncio.StreamReader(limit=LIMIT)
        listener = StreamListener(echo, "127.0.0.1", 0, max_message_bytes=LIMIT)
        conn = Connection(reader, _Writer(), listener)  # type: ignore[arg-type]
        for chunk in chunks:
            reader.feed_data(chunk)
        reader.feed_eof()
        for _ in range(sum(map(len, chunks)) + 2):
            try:
                line = await conn.read_line()
            except MessageTooLarge:
                continue
            if line is None:
                return
            assert len(line) <= LIMIT
            assert b"\n" not in line
        raise AssertionError("read_line never reached the end")

    asyncio.run(run())
