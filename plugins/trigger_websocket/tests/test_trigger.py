"""The trigger as its clients see it: aiohttp and ``websockets`` dial it, in both modes."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import time

import aiohttp
import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from dh_serverless.core.errors import UserError
from dh_serverless.testing.processes import eventually

pytestmark = pytest.mark.timeout(60)


async def echo(event):
    return b"ACK: " + event.body


async def receive_text(ws, timeout: float = 5) -> str:
    msg = await asyncio.wait_for(ws.receive(), timeout)
    assert msg.type is aiohttp.WSMsgType.TEXT, msg
    return msg.data


# ---------------------------------------------------------------------------
# Discrete mode
# ---------------------------------------------------------------------------


async def test_discrete_answers_the_latest_message_at_most_once_per_interval(start_trigger):
    started = await start_trigger(echo, processing_interval=300)
    async with aiohttp.ClientSession() as session, session.ws_connect(started.url) as ws:
        await ws.send_str("state = A")
        first = time.monotonic()
        assert await receive_text(ws) == "ACK: state = A"  # idle: handled at once
        for state in "BCD":
            await ws.send_str(f"state = {state}")
        assert await receive_text(ws) == "ACK: state = D"  # the latest wins
        assert time.monotonic() - first >= 0.29
    assert [e.body for e in started.events] == [b"state = A", b"state = D"]
    event = started.events[0]
    assert (event.content_type, event.method, event.path) == (
        "application/octet-stream",
        "websocket",
        "/ws",
    )
    assert event.fields["message_type"] == "text"
    assert event.trigger.kind == "websocket"
    assert started.metric("dh_websocket_trigger_dropped", reason="superseded") == 2
    assert started.metric("dh_websocket_trigger_messages") == 4


async def test_discrete_binary_message_and_binary_answer_with_websockets_client(start_trigger):
    async def invert(event):
        return bytes(255 - b for b in event.body)  # not UTF-8: goes back as binary

    started = await start_trigger(invert, processing_interval=10)
    async with websockets.connect(started.url) as ws:
        await ws.send(b"\x00\x01\x02")
        assert await asyncio.wait_for(ws.recv(), 5) == b"\xff\xfe\xfd"
        await ws.send("text")
        assert await asyncio.wait_for(ws.recv(), 5) == bytes(255 - b for b in b"text")
    assert started.events[0].fields["message_type"] == "binary"


async def test_each_client_gets_its_own_answers(start_trigger):
    started = await start_trigger(echo, workers=2, processing_interval=10)
    async with websockets.connect(started.url) as one, websockets.connect(started.url) as two:
        await one.send("one")
        await two.send("two")
        assert await asyncio.wait_for(one.recv(), 5) == "ACK: one"
        assert await asyncio.wait_for(two.recv(), 5) == "ACK: two"
    assert {e.fields["client"] for e in started.events} == {1, 2}


async def test_handler_error_answer_and_none_answer(start_trigger):
    async def handler(event):
        if event.body == b"raise":
            raise RuntimeError("boom")
        return None if event.body == b"quiet" else b"ok"

    started = await start_trigger(handler, processing_interval=10)
    async with websockets.connect(started.url) as ws:
        await ws.send("raise")
        assert await asyncio.wait_for(ws.recv(), 5) == "RuntimeError: boom"
        await ws.send("quiet")  # None: nothing goes back
        await asyncio.sleep(0.1)
        await ws.send("next")
        assert await asyncio.wait_for(ws.recv(), 5) == "ok"


# ---------------------------------------------------------------------------
# Stream mode
# ---------------------------------------------------------------------------


async def test_stream_hands_over_the_whole_window_once_chunk_bytes_arrived(start_trigger):
    started = await start_trigger(
        lambda_len, is_stream=True, processing_interval=10,
        chunk_bytes=1000, max_bytes=3000, trim_bytes=2000,
    )  # fmt: skip
    async with websockets.connect(started.url) as ws:
        await ws.send(b"a" * 600)
        await asyncio.sleep(0.1)
        assert not started.events  # 600 < chunk_bytes
        await ws.send(b"b" * 600)
        assert await asyncio.wait_for(ws.recv(), 5) == "1200"
        await ws.send(b"c" * 2500)  # 3700 > 3000: 2000 trimmed from the front
        assert await asyncio.wait_for(ws.recv(), 5) == "1700"
    assert started.events[0].body == b"a" * 600 + b"b" * 600
    assert started.events[1].body == b"c" * 1700
    assert started.events[1].fields["new_bytes"] == 1700
    # the 800 new bytes trimmed before the handler saw them are counted
    assert started.metric("dh_websocket_trigger_dropped_bytes") == 800


async def lambda_len(event):
    return str(len(event.body))


async def test_stream_buffer_never_exceeds_max_bytes(start_trigger):
    started = await start_trigger(
        lambda_len, is_stream=True, processing_interval=5,
        chunk_bytes=4096, max_bytes=20000, trim_bytes=8192,
    )  # fmt: skip
    async with aiohttp.ClientSession() as session, session.ws_connect(started.url) as ws:
        for _ in range(40):
            await ws.send_bytes(os.urandom(4096))
        sizes = []
        while not sizes or started.metric("dh_websocket_trigger_messages") < 40:
            sizes.append(int(await receive_text(ws)))
    assert max(len(e.body) for e in started.events) <= 20000
    assert all(s <= 20000 for s in sizes)


# ---------------------------------------------------------------------------
# Limits: clients, sizes, malformed frames
# ---------------------------------------------------------------------------


async def test_clients_beyond_the_workers_are_closed_with_a_reason(start_trigger):
    started = await start_trigger(echo, workers=1, processing_interval=10)
    async with websockets.connect(started.url) as first:
        async with websockets.connect(started.url) as second:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(second.recv(), 5)
        assert closed.value.rcvd.code == 1013
        assert closed.value.rcvd.reason == "too many clients: this trigger serves 1 (numWorkers)"
        await first.send("still here")
        assert await asyncio.wait_for(first.recv(), 5) == "ACK: still here"
    assert started.metric("dh_websocket_trigger_closed", reason="too_many_clients") == 1
    # the slot is free again once the first client left
    async with websockets.connect(started.url) as third:
        await third.send("third")
        assert await asyncio.wait_for(third.recv(), 5) == "ACK: third"


async def test_an_oversized_message_closes_only_that_client(start_trigger):
    started = await start_trigger(echo, processing_interval=10, max_message_bytes=1000)
    async with (
        websockets.connect(started.url) as good,
        websockets.connect(started.url, max_size=None) as bad,
    ):
        await bad.send(b"x" * 1001)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(bad.recv(), 5)
        assert closed.value.rcvd.code == 1009
        await good.send(b"y" * 1000)
        assert await asyncio.wait_for(good.recv(), 5) == "ACK: " + "y" * 1000
    assert started.metric("dh_websocket_trigger_closed", reason="too_big") == 1


def _raw_client(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 101")
    return sock


def _close_code(sock: socket.socket) -> int:
    data = b""
    while len(data) < 4:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    assert data[0] & 0x0F == 0x8, data  # a close frame
    return int(struct.unpack("!H", data[2:4])[0])


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (b"\xa2\x80\x00\x00\x00\x00", 1002),  # RSV2 set, no extension negotiated
        (b"\x80\x80\x00\x00\x00\x00", 1002),  # a continuation with nothing to continue
        (b"\x89\xfe\x00\x80" + bytes(4) + bytes(128), 1002),  # a ping over 125 bytes
        (b"\x83\x80\x00\x00\x00\x00", 1002),  # reserved opcode 3
        (b"\x81\x82\x00\x00\x00\x00\xff\xfe", 1007),  # text that is not UTF-8
    ],
)
async def test_a_malformed_frame_closes_only_that_client(start_trigger, frame, code):
    started = await start_trigger(echo, processing_interval=10)
    async with websockets.connect(started.url) as good:
        sock = await asyncio.to_thread(_raw_client, started.trigger.port)
        try:
            await asyncio.to_thread(sock.sendall, frame)
            assert await asyncio.to_thread(_close_code, sock) == code
        finally:
            sock.close()
        await good.send("fine")
        assert await asyncio.wait_for(good.recv(), 5) == "ACK: fine"
    assert started.metric("dh_websocket_trigger_closed", reason="malformed") == 1


async def test_other_paths_are_not_found(start_trigger):
    started = await start_trigger(echo)
    url = started.url.replace("ws://", "http://") + "x"
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        assert resp.status == 404


async def test_a_port_in_use_fails_the_start_clearly(start_trigger):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UserError, match=rf"cannot listen on '127.0.0.1:{port}'"):
            await start_trigger(echo, websocket_addr=f"127.0.0.1:{port}")


# ---------------------------------------------------------------------------
# Shutdown
# ---------------------------------------------------------------------------


async def test_stop_answers_the_event_in_flight_then_closes_with_1001(start_trigger):
    release, arrived = asyncio.Event(), asyncio.Event()

    async def slow(event):
        arrived.set()
        await release.wait()
        return b"late answer"

    started = await start_trigger(slow, processing_interval=10)
    async with websockets.connect(started.url) as ws:
        await ws.send("work")
        await asyncio.wait_for(arrived.wait(), 5)
        stopping = asyncio.create_task(started.trigger.stop(5))
        await asyncio.sleep(0.1)
        release.set()
        assert await asyncio.wait_for(ws.recv(), 5) == "late answer"
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd.code == 1001
        await stopping


async def test_a_client_gone_without_a_close_frees_its_place(start_trigger, monkeypatch):
    from dh_serverless.triggers.websocket import trigger as trigger_module

    monkeypatch.setattr(trigger_module, "HEARTBEAT", 0.2)
    started = await start_trigger(echo, workers=1, processing_interval=10)
    silent = await asyncio.to_thread(_raw_client, started.trigger.port)  # never answers pings
    try:
        await asyncio.sleep(0.05)
        assert started.metric("dh_websocket_trigger_clients") == 1
        await eventually(
            lambda: started.metric("dh_websocket_trigger_clients") == 0, 5, "the silent one gone"
        )
        async with websockets.connect(started.url) as ws:
            await ws.send("here")
            assert await asyncio.wait_for(ws.recv(), 5) == "ACK: here"
    finally:
        silent.close()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blobs=st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=8))
def test_random_bytes_after_the_handshake_never_harm_the_trigger(blobs):
    """Whatever a client sends once upgraded, the trigger stays up and serves others."""
    from dh_serverless.core.api import CONVERTER, to_response
    from dh_serverless.hookspecs import FunctionInfo, Metrics, TriggerSpec
    from dh_serverless.triggers.websocket import WebsocketTrigger, WebsocketTriggerAttributes

    async def main() -> None:
        attrs = CONVERTER.structure(
            {"websocket_addr": "127.0.0.1:0", "processing_interval": 1, "max_message_bytes": 256},
            WebsocketTriggerAttributes,
        )
        spec = TriggerSpec(name="ws", kind="websocket", attributes=attrs,
                           function=FunctionInfo("t"), workers=2, metrics=Metrics())  # fmt: skip
        trigger = WebsocketTrigger(spec)

        async def dispatch(event):
            return to_response(b"ACK: " + event.body)

        await trigger.start(dispatch)
        try:
            for blob in blobs:
                sock = await asyncio.to_thread(_raw_client, trigger.port)
                try:
                    await asyncio.to_thread(sock.sendall, blob)
                    await asyncio.sleep(0.01)
                finally:
                    sock.close()
            async with websockets.connect(trigger.url) as ws:
                await ws.send("still serving")
                assert await asyncio.wait_for(ws.recv(), 5) == "ACK: still serving"
        finally:
            await trigger.stop(1)

    asyncio.run(main())


async def test_in_the_runtime_on_the_port_it_was_given(dh_trigger_function):
    """The whole function in this event loop: the runtime's workers, metrics and drain."""
    function = await dh_trigger_function(
        "websocket", {"websocket_addr": "127.0.0.1:0", "processing_interval": 10}, name="ws"
    )
    port = function.port  # what port 0 became
    assert function.trigger().url == f"ws://127.0.0.1:{port}/ws"
    async with aiohttp.ClientSession() as session, session.ws_connect(function.trigger().url) as ws:
        await ws.send_str("hello")
        assert await receive_text(ws) == "hello"  # the echo handler's answer, as UTF-8 text
    assert function.metric("dh_events", trigger="ws", outcome="ok") == 1
    assert function.metric("dh_websocket_trigger_messages") == 1
    await function.stop()
