"""What every listener the project runs shares: read and idle timeouts, a byte budget.

Every aiohttp listener (the http trigger, openinference REST, the sinks' HTTP servers,
the health server) takes its timeouts from :func:`listener_timeouts`:

- ``idle``: how long a connection may sit without a complete request head: before its
  first request, with half a request line or header block, or idle between keep-alive
  requests (``DH_SERVERLESS_IDLE_TIMEOUT``, default 30 s; aiohttp's own is 3,630 s);
- ``read``: how long a request body may stall (no byte received while the server
  waits for more) before the connection is closed (``DH_SERVERLESS_READ_TIMEOUT``,
  default 60 s). Time the handler spends working is never counted.

Both take seconds or a Go duration (``90s``, ``2m``). :class:`TimedRequestHandler` applies
them to a ``web.Server`` subclass's connections; :func:`runner_options` gives the
``AppRunner`` keyword arguments for servers built on ``web.Application``.

:class:`ByteBudget` bounds the bytes several requests hold at once (a large upload takes
its size from it before it is read, and gives it back once answered).
"""

from __future__ import annotations

import os
from typing import Any

import attrs
from aiohttp import web

from dh_serverless.core.durations import parse_go_duration

__all__ = (
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_READ_TIMEOUT",
    "ByteBudget",
    "ListenerTimeouts",
    "TimedRequestHandler",
    "listener_timeouts",
    "runner_options",
)

DEFAULT_IDLE_TIMEOUT = 30.0  #: seconds; ``DH_SERVERLESS_IDLE_TIMEOUT``
DEFAULT_READ_TIMEOUT = 60.0  #: seconds; ``DH_SERVERLESS_READ_TIMEOUT``


@attrs.frozen
class ListenerTimeouts:
    """Seconds a connection may be idle (``idle``) or stall a body (``read``)."""

    idle: float = DEFAULT_IDLE_TIMEOUT
    read: float = DEFAULT_READ_TIMEOUT


def _seconds(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        try:
            value = parse_go_duration(text)
        except ValueError:
            raise ValueError(
                f"{name}={text!r} is not a duration: give seconds (30) or a Go duration (30s)"
            ) from None
    if value <= 0:
        raise ValueError(f"{name}={text!r} must be more than 0")
    return value


def listener_timeouts() -> ListenerTimeouts:
    """The timeouts of every listener, from the environment (defaults above).

    Raises ``ValueError`` naming the variable when one is not a positive duration.
    """
    return ListenerTimeouts(
        idle=_seconds("DH_SERVERLESS_IDLE_TIMEOUT", DEFAULT_IDLE_TIMEOUT),
        read=_seconds("DH_SERVERLESS_READ_TIMEOUT", DEFAULT_READ_TIMEOUT),
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


class ByteBudget:
    """Bytes that requests may hold at once; a request beyond it is refused, not queued.

    :param limit: the budget in bytes.
    """

    __slots__ = ("limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def try_take(self, size: int) -> bool:
        """Take ``size`` bytes if they fit; ``False`` (nothing taken) if not.

        A single request larger than the whole budget is taken when nothing else is held,
        so a budget smaller than the largest accepted request never refuses it forever.
        """
        if self.used + size > self.limit and self.used > 0:
            return False
        self.used += size
        return True

    def give_back(self, size: int) -> None:
        """Return bytes taken with :meth:`try_take`."""
        self.used = max(0, self.used - size)
