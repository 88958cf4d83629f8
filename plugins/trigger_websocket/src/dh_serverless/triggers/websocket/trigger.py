"""The websocket trigger: clients connect to ``ws://<websocket_addr>/ws``, what they send
goes to the handler every ``processing_interval``, the answer goes back to them.

One aiohttp server per trigger. Each client gets a :class:`Session` of its own (its
latest message, or its own rolling buffer in stream mode) and at most one event in
flight, so clients are capped at the trigger's workers (``numWorkers``): one more is
accepted and closed at once with 1013 (try again later) and a reason naming the cap. A
message over ``max_message_bytes`` closes that client with 1009, a malformed frame with
1002 (or 1007 for text that is not UTF-8); the other clients go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import ClassVar

import cattrs
from aiohttp import WSCloseCode, WSMsgType, web

from dh_serverless.core.api import StreamEvents, UserError, drain_tasks, trigger_attributes
from dh_serverless.hookspecs import Dispatch, TriggerInfo, TriggerSpec, impl
from dh_serverless.triggers.websocket.address import ListenAddress
from dh_serverless.triggers.websocket.config import WebsocketTriggerAttributes, register_converters
from dh_serverless.triggers.websocket.metrics import TriggerMetrics
from dh_serverless.triggers.websocket.session import Session

__all__ = ("PATH", "WebsocketTrigger", "dh_register_converters")

#: The one path served, as the original.
PATH = "/ws"
#: Seconds between the pings that find clients gone without a close.
HEARTBEAT = 30.0


@impl
def dh_register_converters(converter: cattrs.Converter) -> None:
    """Register the websocket trigger's attribute types on the core's converter."""
    register_converters(converter)


class WebsocketTrigger:
    """The ``websocket`` input trigger. See the package README for the behaviour."""

    kind: ClassVar[str] = "websocket"
    attributes_type: ClassVar[type] = WebsocketTriggerAttributes

    def __init__(self, spec: TriggerSpec) -> None:
        self.attributes = trigger_attributes(spec, WebsocketTriggerAttributes, "websocket")
        self.name = spec.name
        self.spec = spec
        self.address = self.attributes.address
        self.port = self.address.port
        self.max_clients = spec.workers
        self._logger = spec.logger
        self._events = StreamEvents(
            TriggerInfo("websocket", self.name), url=PATH, path=PATH, method="websocket"
        )
        self._sessions: dict[int, Session] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._numbers = itertools.count(1)
        self.metrics = TriggerMetrics(spec.metrics, self.name, lambda: len(self._sessions))
        self._runner: web.AppRunner | None = None
        self._dispatch: Dispatch | None = None
        self._closing = False

    @property
    def url(self) -> str:
        """``ws://host:port/ws`` to dial from this machine (the bound port once started)."""
        return ListenAddress(self.address.host, self.port).url(PATH)

    async def start(self, dispatch: Dispatch) -> None:
        """Listen on ``websocket_addr``; a port in use fails the start with a clear error."""
        if self._runner is not None:
            raise RuntimeError(f"websocket trigger {self.name!r} already started")
        self._dispatch = dispatch
        app = web.Application()
        app.router.add_get(PATH, self._handle)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.address.host, self.address.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise UserError(
                f"websocket trigger {self.name!r} cannot listen on "
                f"{self.attributes.websocket_addr!r}: {exc.strerror or exc}; "
                "choose another websocket_addr"
            ) from exc
        self._runner = runner
        self.port = runner.addresses[0][1]
        a = self.attributes
        self._logger.info(
            "websocket trigger %s serving %s (%s mode, every %g ms, up to %d clients)",
            self.name, self.url, "stream" if a.is_stream else "discrete",
            float(a.processing_interval) * 1000, self.max_clients,
        )  # fmt: skip

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self._closing:
            raise web.HTTPServiceUnavailable(text="shutting down\n")
        # Pings every HEARTBEAT s: a client gone without a close (half-open TCP) frees its
        # slot once its pong is late, instead of holding one of numWorkers for ever.
        ws = web.WebSocketResponse(max_msg_size=self.attributes.message_limit, heartbeat=HEARTBEAT)
        await ws.prepare(request)
        if len(self._sessions) >= self.max_clients:
            self.metrics.closed["too_many_clients"].inc()
            reason = f"too many clients: this trigger serves {self.max_clients} (numWorkers)"
            self._logger.warning(
                "websocket trigger %s: refused %s: %s", self.name, request.remote, reason
            )
            await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=reason.encode())
            return ws
        number = next(self._numbers)
        session = Session(
            number, ws, request.remote or "", self.attributes, self._events, self.metrics,
            self._logger,
        )  # fmt: skip
        assert self._dispatch is not None
        task = asyncio.get_running_loop().create_task(session.run(self._dispatch))
        self._sessions[number] = session
        self._tasks[number] = task
        self._logger.info(
            "websocket trigger %s: client %d connected from %s (%d of %d)",
            self.name, number, session.remote, len(self._sessions), self.max_clients,
        )  # fmt: skip
        try:
            await self._read(session)
        finally:
            del self._sessions[number]
            if not self._closing:  # stop() lets a closing trigger's tasks finish
                self._tasks.pop(number, None)
                session.stopping = True
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            self._logger.info(
                "websocket trigger %s: client %d left (%s)",
                self.name, number, ws.close_code,
            )  # fmt: skip
        return ws

    async def _read(self, session: Session) -> None:
        metrics = self.metrics
        push = session.push
        async for msg in session.ws:
            if msg.type is WSMsgType.BINARY:
                data = msg.data
                push(data, False)
            elif msg.type is WSMsgType.TEXT:
                data = msg.data.encode()
                push(data, True)
            elif msg.type is WSMsgType.ERROR:
                code = getattr(msg.data, "code", None) or session.ws.close_code
                reason = "too_big" if code == WSCloseCode.MESSAGE_TOO_BIG else "malformed"
                metrics.closed[reason].inc()
                self._logger.warning(
                    "websocket trigger %s: closed client %d (%s): %s",
                    self.name, session.number, code, msg.data,
                )  # fmt: skip
                return
            else:
                continue
            metrics.messages.inc()
            metrics.received_bytes.inc(len(data))

    async def stop(self, timeout: float) -> None:
        """Take no new clients, let events in flight finish and answer for up to
        ``timeout`` seconds, close every client with 1001 and stop listening."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._closing = True
        sessions = list(self._sessions.values())
        tasks = dict(self._tasks)
        for session in sessions:
            session.stopping = True
            if not session.busy:
                tasks[session.number].cancel()
        if tasks:
            await drain_tasks(tasks.values(), max(timeout, 0.01), grace=None)
            await asyncio.gather(*tasks.values(), return_exceptions=True)
        for session in sessions:
            if not session.ws.closed:
                self.metrics.closed["shutting_down"].inc()
        with contextlib.suppress(Exception):
            await asyncio.gather(
                *(
                    s.ws.close(code=WSCloseCode.GOING_AWAY, message=b"shutting down")
                    for s in sessions
                ),
                return_exceptions=True,
            )
        await runner.cleanup()
        self._tasks.clear()
        self._logger.info("websocket trigger %s stopped", self.name)
