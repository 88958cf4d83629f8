"""What every listener the project runs shares: read and idle timeouts, a byte budget.

Every aiohttp listener (the http trigger, openinference REST, the sinks' HTTP servers,
the health server) takes its timeouts from :func:`listener_timeouts`:

- ``idle``: how long a connection may sit without a complete request head: before its
  first request, with half a request line or header block, or idle between keep-alive
  requests (``DH_SERVERLESS_IDLE_TIMEOUT``, default 30 s; aiohttp's own is 3,630 s);
- ``read``: how long a request body may stall (no byte received while the server
  waits for more) before the connection is closed (``DH_SERVERLESS_READ_TIMEOUT``,
  default 60 s). Time the handler spends working is never counted.

Both take seconds or a Go duration (``90s``, ``2m``). Two helpers apply
them: :func:`runner_options` gives the ``web.Server`` / ``web.AppRunner`` keyword
arguments (the idle timeout), :func:`watch_body_reads` the read timeout of a ``web.Server``
subclass's connections. This module imports no aiohttp (a job never loads the HTTP stack).

:class:`ByteBudget` bounds the bytes several requests hold at once (a large upload takes
its size from it before it is read, and gives it back once answered).
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any

import attrs

from dh_serverless.core.durations import parse_go_duration
from dh_serverless.core.errors import UserError

if TYPE_CHECKING:
    from aiohttp import web

__all__ = (
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_READ_TIMEOUT",
    "ByteBudget",
    "ListenerTimeouts",
    "listener_timeouts",
    "runner_options",
    "serve_app",
    "watch_body_reads",
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


def watch_body_reads(handler: Any, read_timeout: float) -> None:
    """Close the connection of an aiohttp ``RequestHandler`` whose request body stalls.

    Call it from a ``web.Server`` subclass's ``__call__`` on the handler it returns. Every
    ``read_timeout / 2`` seconds the body of the request being handled is checked: when no
    byte arrived for ``read_timeout`` seconds while the server waits for more (reading not
    paused by the server itself, the body not complete), the connection is closed and the
    handler's read fails. Time the handler spends working is never counted. Stops with the
    connection.
    """
    loop = asyncio.get_running_loop()
    seen: list[Any] = [None, -1, 0.0]  # the request, its body bytes so far, since when
    step = read_timeout / 2

    def check() -> None:
        if handler.transport is None:
            return  # the connection is gone
        now = loop.time()
        request = handler._current_request
        if (
            request is None
            or request.content.is_eof()
            or handler._reading_paused  # paused by us (the handler is slow), not them
        ):
            seen[:] = [None, -1, now]
        else:
            total = request.content.total_bytes
            if request is not seen[0] or total != seen[1]:
                seen[:] = [request, total, now]
            elif now - seen[2] >= read_timeout:
                handler.force_close()
                return
        loop.call_later(step, check)

    loop.call_later(step, check)


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


async def serve_app(
    app: web.Application,
    host: str,
    port: int,
    *,
    name: str,
    hint: str,
    shutdown_timeout: float = 1.0,
    backlog: int = 128,
) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on ``host:port`` with every listener's timeouts; return its runner (call
    ``cleanup()`` to stop) and the port bound (the one picked for ``port: 0``).

    Built on aiohttp's public ``AppRunner``, ``TCPSite`` and ``runner.addresses``. A port
    that cannot be bound is a :class:`UserError` (a clean exit, no traceback):
    ``"{name} cannot listen on HOST:PORT: REASON; {hint}"``.
    """
    from aiohttp import web  # the HTTP stack, only for those that serve

    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, shutdown_timeout=shutdown_timeout,
        **runner_options(),
    )  # fmt: skip
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, backlog=backlog).start()
    except OSError as exc:
        await runner.cleanup()
        raise UserError(
            f"{name} cannot listen on {host}:{port}: {exc.strerror or exc}; {hint}"
        ) from exc
    addresses = runner.addresses
    return runner, int(addresses[0][1]) if addresses else port
