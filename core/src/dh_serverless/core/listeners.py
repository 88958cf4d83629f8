"""aiohttp listeners with the limits of :mod:`dh_serverless.core.limits` applied.

Every aiohttp listener (the http trigger, openinference REST, the sinks' HTTP servers,
the health server) takes its timeouts from :func:`listener_timeouts`.
:class:`TimedRequestHandler` applies them to a ``web.Server`` subclass's connections;
:func:`runner_options` gives the ``AppRunner`` keyword arguments for servers built on
``web.Application``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from dh_serverless.core.limits import (
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_READ_TIMEOUT,
    ByteBudget,
    ListenerTimeouts,
    listener_timeouts,
)

__all__ = (
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_READ_TIMEOUT",
    "ByteBudget",
    "ListenerTimeouts",
    "TimedRequestHandler",
    "listener_timeouts",
    "runner_options",
)


def runner_options(timeouts: ListenerTimeouts | None = None) -> dict[str, Any]:
    """``web.AppRunner`` / ``web.Server`` keyword arguments that apply ``timeouts``.

    aiohttp closes a connection that stays without a complete request head for
    ``keepalive_timeout`` seconds, from its start and between requests.
    """
    t = timeouts or listener_timeouts()
    return {"keepalive_timeout": t.idle}


class TimedRequestHandler(web.RequestHandler):
    """aiohttp's connection handler with a body read timeout.

    A connection whose request body receives nothing for ``read_timeout`` seconds while
    the server waits for it (reading not paused by the server itself) is closed; the
    handler's read then fails. A ``web.Server`` subclass returns these from
    ``__call__`` (pass ``read_timeout`` among its keyword arguments).
    """

    __slots__ = ("_last_read", "_read_timeout", "_read_timer")

    def __init__(self, manager: web.Server, *, read_timeout: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._read_timeout = read_timeout
        self._last_read = 0.0
        self._read_timer: Any = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._last_read = self._loop.time()
        self._read_timer = self._loop.call_later(self._read_timeout, self._check_read)

    def data_received(self, data: bytes) -> None:
        self._last_read = self._loop.time()
        super().data_received(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None
        super().connection_lost(exc)

    def _check_read(self) -> None:
        self._read_timer = None
        if self.transport is None:
            return
        loop = self._loop
        now = loop.time()
        request = self._current_request
        waiting = (
            request is not None
            and not request.content.is_eof()
            and not self._reading_paused  # paused by us (the handler is slow), not them
        )
        if waiting and now - self._last_read >= self._read_timeout:
            self.log_debug("closing a connection whose request body stalled")
            self.force_close()
            return
        if not waiting:
            self._last_read = now
        self._read_timer = loop.call_at(self._last_read + self._read_timeout, self._check_read)
