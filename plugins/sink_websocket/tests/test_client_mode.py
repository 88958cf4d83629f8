"""Client mode (the original's): the function dials a WebSocket server run by the test."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from dh_serverless.testing.processes import HOST, eventually, free_port

pytestmark = pytest.mark.timeout(60)


class Peer:
    """A WebSocket server on 127.0.0.1 that records every message it receives."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.messages: list[aiohttp.WSMessage] = []
        self.closes: list[int | None] = []
        self.connections = 0
        self.sockets: set[web.WebSocketResponse] = set()
        self.runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections += 1
        self.sockets.add(ws)
        try:
            async for msg in ws:
                self.messages.append(msg)
        finally:
            self.sockets.discard(ws)
            self.closes.append(ws.close_code)
        return ws

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/frames", self.handle)
        self.runner = web.AppRunner(app, handle_signals=False)
        await self.runner.setup()
        await web.TCPSite(self.runner, HOST, self.port).start()

    async def stop(self) -> None:
        for ws in list(self.sockets):
            await ws.close()
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


@contextlib.asynccontextmanager
async def peer_on(port: int) -> AsyncIterator[Peer]:
    peer = Peer(port)
    await peer.start()
    try:
        yield peer
    finally:
        await peer.stop()


async def status(function, *args, **fields) -> int:
    """Push one event through the function's ``test`` trigger; the status it answered."""
    return (await function.push(*args, **fields)).status_code


def client_sink(port: int, **attributes: object) -> dict[str, object]:
    # The original's attribute names, as its test/mjpeg-websocket config writes them.
    return {"kind": "websocket", "attributes": {"url": f"ws://{HOST}:{port}/frames",
            "messageType": "binary", "timeout": 10, "reconnectDelay": 0.1,
            "maxReconnectDelay": 0.3, **attributes}}  # fmt: skip


async def test_peer_down_at_start_then_up_then_restarted(dh_sink_function):
    port = free_port()
    function = await dh_sink_function(client_sink(port))  # nothing listens yet: still starts
    assert await status(function, b"lost", "image/jpeg", frame_num=0) == 200
    await eventually(
        lambda: function.metric("dh_websocket_dropped_total", reason="disconnected"),
        5, "a drop while disconnected",
    )  # fmt: skip
    assert function.metric("dh_websocket_dials_total", outcome="failed") >= 1

    async with peer_on(port) as peer:
        await eventually(lambda: peer.connections == 1, 10, "the sink to dial in")
        await eventually(lambda: function.metric("dh_websocket_clients"), 5, "connected gauge")
        for n in range(1, 6):
            assert await status(function, b"frame-%d" % n, "image/jpeg", frame_num=n) == 200
        assert await status(function, b"boom", path="/raise") == 500
        assert await status(function, b"gone", status=503) == 503
        await eventually(lambda: len(peer.messages) == 5, 5, "five frames at the peer")
        assert [m.data for m in peer.messages] == [b"frame-%d" % n for n in range(1, 6)]
        assert {m.type for m in peer.messages} == {aiohttp.WSMsgType.BINARY}

    # The peer went away (its connections closed); it comes back on the same port.
    async with peer_on(port) as peer:
        await eventually(lambda: peer.connections == 1, 10, "the sink to dial again")
        await eventually(lambda: function.metric("dh_websocket_clients"), 5, "connected gauge")
        assert await status(function, b"after", "image/jpeg") == 200
        await eventually(lambda: len(peer.messages) == 1, 5, "a frame after reconnecting")
        assert function.metric("dh_websocket_dials_total", outcome="ok") == 2

        await function.stop()
        await eventually(lambda: peer.closes, 5, "the sink to close its connection")
        assert peer.closes == [aiohttp.WSCloseCode.GOING_AWAY]
    assert "cannot reach" in function.log()


async def test_text_mode_sends_text_and_drops_what_is_not_utf8(dh_sink_function):
    port = free_port()
    async with peer_on(port) as peer:
        function = await dh_sink_function(client_sink(port, messageType="text"))
        await eventually(lambda: peer.connections == 1, 10, "the sink to dial in")
        assert await status(function, "ok ✓".encode(), "application/octet-stream") == 200
        assert await status(function, b"\xff\xd8\xff", "image/jpeg") == 200
        assert await status(function, b"next", "text/plain") == 200
        await eventually(lambda: len(peer.messages) == 2, 5, "two text messages")
        assert [(m.type, m.data) for m in peer.messages] == [
            (aiohttp.WSMsgType.TEXT, "ok ✓"), (aiohttp.WSMsgType.TEXT, "next")
        ]  # fmt: skip
        assert function.metric("dh_websocket_dropped_total", reason="not_text") == 1


async def test_stalled_peer_never_holds_up_the_trigger(dh_sink_function):
    """A peer that accepts and never reads: requests keep their answer time, frames drop."""
    port = free_port()
    accepted = asyncio.Event()
    release = asyncio.Event()
    stalled: list[asyncio.Transport] = []

    async def stall(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        accepted.set()
        request.transport.pause_reading()  # never reads again: the sink's sends back up
        stalled.append(request.transport)
        await release.wait()
        return ws

    app = web.Application()
    app.router.add_get("/frames", stall)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, HOST, port).start()
    try:
        function = await dh_sink_function(
            client_sink(port, timeout=0.5), spec={"gracefulShutdownTimeout": "1s"}
        )
        await asyncio.wait_for(accepted.wait(), 10)
        frame = b"\0" * 500_000
        loop = asyncio.get_running_loop()
        slowest = 0.0
        for n in range(40):
            began = loop.time()
            assert await status(function, frame, "image/jpeg", frame_num=n) == 200
            slowest = max(slowest, loop.time() - began)
        await eventually(
            lambda: function.metric("dh_websocket_dropped_total", reason="send_failed"),
            10, "a send that timed out",
        )  # fmt: skip
        assert slowest < 2.0, f"a request took {slowest:.2f}s while the peer stalled"
        began = loop.time()
        await function.stop()
        # the core gives the sink min(gracefulShutdownTimeout, 5s) to flush, then it stops
        assert loop.time() - began < 4, function.log()
    finally:
        for transport in stalled:  # the stalled peer goes away: no close handshake to wait for
            transport.abort()
        release.set()
        await runner.cleanup()


async def test_sigterm_sends_what_is_queued_then_closes_1001(dh_sink_function):
    port = free_port()
    async with peer_on(port) as peer:
        function = await dh_sink_function(client_sink(port), workers=4)
        await eventually(lambda: peer.connections == 1, 10, "the sink to dial in")
        frame = b"\xff" * 200_000
        posts = [function.push(n.to_bytes(4, "big") + frame, "image/jpeg") for n in range(30)]
        assert [r.status_code for r in await asyncio.gather(*posts)] == [200] * 30
        await function.stop()
        await eventually(lambda: peer.closes, 5, "the close")
        assert len(peer.messages) == 30
        assert peer.closes == [aiohttp.WSCloseCode.GOING_AWAY]
