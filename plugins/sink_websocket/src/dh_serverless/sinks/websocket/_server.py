"""Server mode: WebSocket clients connect and each receives every result, at its own pace."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from aiohttp import WSCloseCode, web

from dh_serverless.core.api import UserError, runner_options
from dh_serverless.sinks.websocket._messages import Message, send
from dh_serverless.sinks.websocket._stats import WebsocketStats
from dh_serverless.sinks.websocket.config import WebsocketAttributes

__all__ = ("WebsocketServer",)


class _Client:
    """One connected client: a bounded queue of results and the task sending them."""

    def __init__(self, ws: web.WebSocketResponse, size: int, stats: WebsocketStats) -> None:
        self.ws = ws
        self.size = size
        self.stats = stats
        self.items: deque[tuple[Message, ...]] = deque()
        self.ready = asyncio.Event()
        self.idle = asyncio.Event()
        self.idle.set()

    def offer(self, item: tuple[Message, ...]) -> None:
        if len(self.items) >= self.size:
            self.items.popleft()
            self.stats.dropped["slow_client"].inc()
        self.items.append(item)
        self.idle.clear()
        self.ready.set()

    async def send_loop(self) -> None:
        """Send queued results until the connection closes; a failed send closes it."""
        ws = self.ws
        try:
            while not ws.closed:
                await self.ready.wait()
                self.ready.clear()
                while self.items and not ws.closed:
                    await send(ws, self.items.popleft(), self.stats.sent)
                self.idle.set()
        except Exception:  # noqa: BLE001 - whatever the transport raised, this client is gone
            self.stats.dropped["send_failed"].inc()
            await ws.close()
        finally:
            self.idle.set()  # nothing more will be sent: shutdown need not wait for it


class WebsocketServer:
    """Serves ``ws://host:port/path``; ``broadcast`` never waits for any client."""

    def __init__(
        self, attributes: WebsocketAttributes, log: logging.Logger, stats: WebsocketStats
    ) -> None:
        self.attributes = attributes
        self.log = log
        self.stats = stats
        self.port = attributes.port
        self._clients: set[_Client] = set()
        self._runner: web.AppRunner | None = None
        self._closing = False
        stats.clients.set_function(lambda: len(self._clients))

    async def start(self) -> None:
        """Listen; raise :class:`UserError` when the port cannot be bound."""
        app = web.Application()
        app.router.add_get(self.attributes.path, self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, **runner_options())
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.attributes.host, self.attributes.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise UserError(
                f"websocket sink cannot listen on {self.attributes.host}:{self.attributes.port}: "
                f"{exc.strerror or exc}; choose another port in the sink's attributes"
            ) from exc
        self.port = self._runner.addresses[0][1]
        self.log.info(
            "websocket sink serving ws://%s:%d%s",
            self.attributes.host,
            self.port,
            self.attributes.path,
        )

    def broadcast(self, item: tuple[Message, ...]) -> None:
        """Queue ``item`` for every client; a full queue drops that client's oldest."""
        for client in self._clients:
            client.offer(item)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self._closing:
            raise web.HTTPServiceUnavailable(text="shutting down\n")
        if len(self._clients) >= self.attributes.max_clients:
            raise web.HTTPServiceUnavailable(text="too many clients\n")
        heartbeat = self.attributes.heartbeat or None
        ws = web.WebSocketResponse(heartbeat=heartbeat, max_msg_size=64 * 1024)
        await ws.prepare(request)
        client = _Client(ws, self.attributes.client_queue_size, self.stats)
        self._clients.add(client)
        sender = asyncio.get_running_loop().create_task(client.send_loop())
        try:
            async for _ in ws:  # reading lets aiohttp answer pings and see the close
                pass
        finally:
            self._clients.discard(client)
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
        return ws

    async def stop(self, timeout: float) -> None:
        """Give every client up to ``timeout`` seconds to receive what is queued, close
        them with 1001 (going away) and stop listening."""
        self._closing = True
        clients = list(self._clients)
        if clients:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await asyncio.gather(*(c.idle.wait() for c in clients))
            await asyncio.gather(
                *(
                    c.ws.close(code=WSCloseCode.GOING_AWAY, message=b"shutting down")
                    for c in clients
                ),
                return_exceptions=True,
            )
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
