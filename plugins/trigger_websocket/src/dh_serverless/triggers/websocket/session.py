"""One connected client: what it sent (latest message or rolling buffer) and the task that
hands it to the handler at most once per ``processing_interval``.

The task sleeps while nothing new arrived (no idle timer wake-ups): a message, or in
stream mode a buffer that became ``ready``, wakes it; it then waits out the rest of the
interval since the previous event, takes the data and awaits ``dispatch``. So one client
has at most one event in flight, and a handler slower than the interval simply makes the
next event start later (the original's ticker skipped ticks the same way).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Callable

from aiohttp import web

from dh_serverless.core.api import UTC, RollingBuffer, StreamEvents, body_bytes
from dh_serverless.hookspecs import Dispatch, DispatchError, Response
from dh_serverless.triggers.websocket.config import WebsocketTriggerAttributes
from dh_serverless.triggers.websocket.metrics import TriggerMetrics

__all__ = ("CONTENT_TYPE", "Session")

#: The original's event content type, in both modes; ``event.body`` stays ``bytes``.
CONTENT_TYPE = "application/octet-stream"


class Session:
    """A client's state and its processing task (``run``)."""

    def __init__(
        self,
        number: int,
        ws: web.WebSocketResponse,
        remote: str,
        attributes: WebsocketTriggerAttributes,
        events: StreamEvents,
        metrics: TriggerMetrics,
        logger: logging.Logger,
    ) -> None:
        self.number = number
        self.ws = ws
        self.remote = remote
        self.attributes = attributes
        self.info = events.info
        self._events = events
        self.metrics = metrics
        self.logger = logger
        self.arrived = asyncio.Event()
        self.busy = False
        self.stopping = False
        self.events = 0
        self._latest: bytes | None = None
        self._latest_text = False
        self.buffer: RollingBuffer | None = None
        self._dropped_seen = 0
        if attributes.is_stream:
            self.buffer = RollingBuffer(
                attributes.chunk_bytes, attributes.max_bytes, attributes.trim_bytes
            )
        self.push: Callable[[bytes, bool], None] = (
            self._push_stream if attributes.is_stream else self._push_discrete
        )

    def _push_discrete(self, data: bytes, is_text: bool) -> None:
        if self._latest is not None:
            self.metrics.superseded.inc()
        self._latest = data
        self._latest_text = is_text
        self.arrived.set()

    def _push_stream(self, data: bytes, is_text: bool) -> None:
        buffer = self.buffer
        assert buffer is not None
        buffer.append(data)
        dropped = buffer.dropped_bytes
        if dropped != self._dropped_seen:
            self.metrics.dropped_bytes.inc(dropped - self._dropped_seen)
            self._dropped_seen = dropped
        if buffer.ready:
            self.arrived.set()

    def _take(self) -> tuple[bytes, dict[str, object]] | None:
        if self.buffer is None:
            data, self._latest = self._latest, None
            if data is None:
                return None
            return data, {"message_type": "text" if self._latest_text else "binary"}
        if not self.buffer.ready:
            return None
        new = self.buffer.new_bytes
        data = self.buffer.take()
        return data, {"new_bytes": new, "dropped_bytes": self.buffer.dropped_bytes}

    async def run(self, dispatch: Dispatch) -> None:
        """Hand the client's data to the handler until the client leaves or ``stop``."""
        loop = asyncio.get_running_loop()
        interval = float(self.attributes.processing_interval)
        due = 0.0
        while not self.stopping:
            await self.arrived.wait()
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.arrived.clear()
            taken = self._take()
            if taken is None or self.stopping:
                continue
            due = loop.time() + interval
            self.busy = True
            try:
                await self._handle(dispatch, *taken)
            finally:
                self.busy = False

    async def _handle(self, dispatch: Dispatch, data: bytes, fields: dict[str, object]) -> None:
        self.events += 1
        now = datetime.datetime.now(UTC)
        fields["client"] = self.number
        fields["remote"] = self.remote
        event = self._events(
            data, f"{self.number}-{self.events}", kind="websocket", content_type=CONTENT_TYPE,
            fields=fields, size=len(data), timestamp=now,
        )  # fmt: skip
        self.metrics.events.inc()
        try:
            response = await dispatch(event)
        except DispatchError as exc:
            self.metrics.failed.inc()
            self.logger.warning(
                "websocket trigger %s: event for client %d not handled: %s",
                self.info.name, self.number, exc or type(exc).__name__,
            )  # fmt: skip
            return
        await self._answer(response)

    async def _answer(self, response: Response) -> None:
        try:
            payload = body_bytes(response.body)
        except TypeError as exc:
            self.logger.warning("websocket trigger %s: %s", self.info.name, exc)
            return
        if not payload:
            return  # a handler returning None says nothing to the client
        if self.ws.closed:
            self.metrics.unsent.inc()
            return
        try:
            text = payload.decode()
        except UnicodeDecodeError:
            send = self.ws.send_bytes(payload)
        else:
            send = self.ws.send_str(text)
        try:
            await send
        except (ConnectionError, RuntimeError):
            self.metrics.unsent.inc()
            return
        self.metrics.answers.inc()
