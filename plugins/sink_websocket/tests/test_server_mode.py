"""Server mode, end to end: aiohttp WebSocket clients connect to a function fed by the
``test`` trigger (what is pushed is what the clients receive)."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from dh_serverless.core.api import UserError
from dh_serverless.testing.processes import HOST, eventually, free_port

pytestmark = pytest.mark.timeout(60)


async def status(function, *args, **fields) -> int:
    """Push one event through the function's ``test`` trigger; the status it answered."""
    return (await function.push(*args, **fields)).status_code


def server_sink(port: int, **attributes: object) -> dict[str, object]:
    return {"kind": "websocket", "attributes": {"host": HOST, "port": port, "path": "/frames",
                                               **attributes}}  # fmt: skip


async def connect(session: aiohttp.ClientSession, port: int) -> aiohttp.ClientWebSocketResponse:
    return await session.ws_connect(f"ws://{HOST}:{port}/frames")


async def until_clients(function, count: int) -> None:
    await eventually(
        lambda: function.metric("dh_websocket_clients", trigger="web") == count,
        10, f"{count} websocket client(s)",
    )  # fmt: skip


async def test_clients_get_binary_frames_and_text_results_never_errors(dh_sink_function):
    port = free_port()
    function = await dh_sink_function(server_sink(port))
    async with aiohttp.ClientSession() as session:
        first, second = await connect(session, port), await connect(session, port)
        await until_clients(function, 2)

        assert await status(function, b"\xff\xd8jpeg-1\xff\xd9", "image/jpeg", frame_num=1) == 200
        assert await status(function, b"boom", path="/raise") == 500
        assert await status(function, b"not found", "text/plain", status=404) == 404
        assert await status(function, b"teapot", "text/plain", status=418) == 418
        assert await status(function, b'{"objects": 2}', "application/json", frame_num=2) == 200
        assert await status(function, "résultat".encode(), "text/plain; charset=utf-8") == 200

        for ws in (first, second):
            got = [await ws.receive(timeout=5) for _ in range(3)]
            assert [m.type for m in got] == [
                aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.TEXT
            ]  # fmt: skip
            assert got[0].data == b"\xff\xd8jpeg-1\xff\xd9"
            assert json.loads(got[1].data) == {"objects": 2}
            assert got[2].data == "résultat"
            with pytest.raises(asyncio.TimeoutError):  # the error answers never came
                await ws.receive(timeout=0.3)
        assert function.metric("dh_websocket_sent_total", trigger="web") == 6
        await first.close()
        await second.close()
    await function.stop()


async def test_metadata_message_precedes_each_result(dh_sink_function):
    port = free_port()
    function = await dh_sink_function(server_sink(port, sendMetadata=True, messageType="binary"))
    async with aiohttp.ClientSession() as session:
        ws = await connect(session, port)
        await until_clients(function, 1)
        await function.push(b"frame", "image/jpeg", frame_num=41, url="http://cam/stream")
        meta, data = await ws.receive(timeout=5), await ws.receive(timeout=5)
        assert meta.type is aiohttp.WSMsgType.TEXT
        info = json.loads(meta.data)
        assert info["frame_num"] == 41  # an int, as the mjpeg trigger gives it
        assert info["source"] == "http://cam/stream"
        assert info["content_type"] == "image/jpeg"
        assert info["size"] == 5
        assert info["event_id"]
        assert info["timestamp"].endswith("+00:00")
        assert data.type is aiohttp.WSMsgType.BINARY
        assert data.data == b"frame"
        await ws.close()


async def test_wrong_path_is_404_and_too_many_clients_503(dh_sink_function):
    port = free_port()
    await dh_sink_function(server_sink(port, maxClients=1))
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await session.ws_connect(f"ws://{HOST}:{port}/other")
        assert info.value.status == 404
        ws = await connect(session, port)
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await connect(session, port)
        assert info.value.status == 503
        await ws.close()


async def test_slow_client_loses_frames_and_never_slows_the_fast_one(dh_sink_function):
    port = free_port()
    function = await dh_sink_function(server_sink(port, clientQueueSize=4))
    frame = bytes(range(256)) * 1200  # 300 KiB: a few fill any socket buffer
    total = 60
    async with aiohttp.ClientSession() as session:
        slow = await connect(session, port)  # connected, never reads until the end
        fast = await connect(session, port)
        await until_clients(function, 2)
        received: list[bytes] = []

        async def read_fast() -> None:
            while len(received) < total:
                msg = await fast.receive(timeout=10)
                received.append(msg.data)

        reader = asyncio.create_task(read_fast())
        for n in range(total):
            body = n.to_bytes(4, "big") + frame
            assert await status(function, body, "image/jpeg", frame_num=n) == 200
            await asyncio.sleep(0.005)
        await asyncio.wait_for(reader, 20)
        assert [int.from_bytes(b[:4], "big") for b in received] == list(range(total))

        dropped = function.metric("dh_websocket_dropped_total", reason="slow_client")
        assert dropped > 0
        slow_got = []
        while True:
            msg = await slow.receive(timeout=3)
            slow_got.append(int.from_bytes(msg.data[:4], "big"))
            if slow_got[-1] == total - 1:
                break
        assert len(slow_got) < total
        assert slow_got == sorted(slow_got)  # what it does get comes in order, newest last
        await slow.close()
        await fast.close()


async def test_sigterm_flushes_queued_frames_then_closes_1001(dh_sink_function):
    port = free_port()
    function = await dh_sink_function(server_sink(port, clientQueueSize=64))
    async with aiohttp.ClientSession() as session:
        ws = await connect(session, port)
        await until_clients(function, 1)
        for n in range(30):
            assert await status(function, b"x" * 100_000, "image/jpeg", frame_num=n) == 200
        stopping = asyncio.create_task(function.stop())
        got = 0
        while True:
            msg = await ws.receive(timeout=10)
            if msg.type is not aiohttp.WSMsgType.BINARY:
                break
            got += 1
            await asyncio.sleep(0.02)  # a client slower than the sender
        assert got == 30
        assert msg.type is aiohttp.WSMsgType.CLOSE
        assert msg.data == aiohttp.WSCloseCode.GOING_AWAY  # the code the sink sent
        await stopping


async def test_port_in_use_fails_start_with_a_clear_message(dh_sink_function):
    import socket

    with socket.socket() as busy:
        busy.bind((HOST, 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(UserError) as info:
            await dh_sink_function(server_sink(port))
    # what `dh-serverless run` prints after "error: ", and its exit code (no traceback)
    assert info.value.exit_code == 1
    assert f"websocket sink cannot listen on {HOST}:{port}" in str(info.value)


async def test_what_clients_send_is_ignored_and_garbage_never_hurts(dh_sink_function):
    port = free_port()
    function = await dh_sink_function(server_sink(port))
    async with aiohttp.ClientSession() as session:
        chatty, quiet = await connect(session, port), await connect(session, port)
        await until_clients(function, 2)
        await chatty.send_str("hello")
        await chatty.send_bytes(b"\x00" * 1000)
        await chatty.send_bytes(b"\x00" * 200_000)  # over the 64 KiB limit: that client closes
        closing = await chatty.receive(timeout=5)
        assert closing.type is aiohttp.WSMsgType.CLOSE
        assert closing.data == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(b"\x16\x03\x01garbage that is no HTTP\r\n\r\n")
        await writer.drain()
        assert (await asyncio.wait_for(reader.read(100), 5))[9:12] == b"400"
        writer.close()
        assert await status(function, b"still here", "image/jpeg") == 200
        msg = await quiet.receive(timeout=5)
        assert msg.data == b"still here"
        await quiet.close()
    await function.stop()
