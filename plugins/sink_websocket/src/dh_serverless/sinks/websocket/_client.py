"""Client mode (the original's): dial a WebSocket server and send it every result.

The peer may be down at start or go away later: the connection is dialled again in the
background with a growing delay, and results emitted meanwhile are dropped and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
from aiohttp import WSCloseCode

from dh_serverless.sinks.websocket._messages import Message, send
from dh_serverless.sinks.websocket._stats import WebsocketStats
from dh_serverless.sinks.websocket.config import WebsocketAttributes

__all__ = ("WebsocketClient",)


class WebsocketClient:
    """Keeps one connection to ``url`` open; ``send`` drops when there is none."""

    def __init__(
        self, attributes: WebsocketAttributes, log: logging.Logger, stats: WebsocketStats
    ) -> None:
        self.attributes = attributes
        self.log = log
        self.stats = stats
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.connected = asyncio.Event()

    async def start(self) -> None:
        """Start dialling in the background; never fails when the peer is down."""
        self._session = aiohttp.ClientSession()
        self._task = asyncio.get_running_loop().create_task(self._keep_connected())

    async def _keep_connected(self) -> None:
        a = self.attributes
        assert self._session is not None
        delay = float(a.reconnect_delay)
        failures = 0
        while not self._closing:
            try:
                async with asyncio.timeout(a.timeout):
                    ws = await self._session.ws_connect(
                        a.url or "",
                        headers=a.headers,
                        heartbeat=a.heartbeat or None,
                        timeout=aiohttp.ClientWSTimeout(ws_close=a.timeout),
                    )
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
                self.stats.dial_failed.inc()
                failures += 1
                level = logging.WARNING if failures == 1 else logging.DEBUG
                self.log.log(
                    level,
                    "websocket sink cannot reach %s (%s: %s); dialling again every %gs at most",
                    a.url,
                    type(exc).__name__,
                    exc,
                    a.max_reconnect_delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, a.max_reconnect_delay)
                continue
            self.stats.dial_ok.inc()
            self.log.info("websocket sink connected to %s", a.url)
            failures = 0
            delay = float(a.reconnect_delay)
            self._ws = ws
            self.stats.clients.set(1)
            self.connected.set()
            try:
                async for _ in ws:  # reading lets aiohttp answer pings and see the close
                    pass
            finally:
                self._ws = None
                self.connected.clear()
                self.stats.clients.set(0)
            if not self._closing:
                self.log.info(
                    "websocket sink disconnected from %s (close code %s)", a.url, ws.close_code
                )
                await asyncio.sleep(delay)

    async def send(self, item: tuple[Message, ...]) -> None:
        """Send ``item`` within ``timeout`` seconds; without a connection it is dropped.

        A send that fails or takes too long closes the connection (dialled again).
        """
        ws = self._ws
        if ws is None or ws.closed:
            self.stats.dropped["disconnected"].inc()
            return
        try:
            async with asyncio.timeout(self.attributes.timeout):
                await send(ws, item, self.stats.sent)
        except (aiohttp.ClientError, ConnectionError, RuntimeError, TimeoutError) as exc:
            self.stats.dropped["send_failed"].inc()
            self.log.warning(
                "websocket sink send to %s failed (%s: %s); dialling again",
                self.attributes.url,
                type(exc).__name__,
                exc,
            )
            with contextlib.suppress(Exception):
                await ws.close(code=WSCloseCode.GOING_AWAY)

    async def stop(self) -> None:
        """Close the connection with 1001 (going away) and stop dialling."""
        self._closing = True
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.attributes.timeout):
                    await ws.close(code=WSCloseCode.GOING_AWAY, message=b"shutting down")
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
