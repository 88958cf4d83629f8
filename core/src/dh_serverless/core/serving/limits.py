"""What every listener the project runs shares: read and idle timeouts, a byte budget.

Every HTTP listener (the http trigger, openinference REST, the sinks' HTTP servers, the
health server: all served through :mod:`dh_serverless.core.serving.http`) takes its
timeouts from :func:`listener_timeouts`:

- ``idle``: how long a connection may sit without a complete request head: before its
  first request, with half a request line or header block, or idle between keep-alive
  requests (``DH_SERVERLESS_IDLE_TIMEOUT``, default 30 s; aiohttp's own is 3,630 s);
- ``read``: how long a request body may stall (no byte received while the server
  waits for more) before the connection is closed (``DH_SERVERLESS_READ_TIMEOUT``,
  default 60 s). Time the handler spends working is never counted.

Both take seconds or a Go duration (``90s``, ``2m``). :func:`runner_options` gives the
``web.Server`` / ``web.AppRunner`` keyword arguments of the idle timeout; the read timeout
is applied by :func:`dh_serverless.core.serving.http.read_body` while it waits for body
bytes. This module imports no aiohttp (a job never loads the HTTP stack).

:class:`ByteBudget` bounds the bytes several requests hold at once (a large upload takes
its size from it before it is read, and gives it back once answered).
"""

from __future__ import annotations

import os
from typing import Any

import attrs

from dh_serverless.core.durations import parse_go_duration

__all__ = (
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_READ_TIMEOUT",
    "ByteBudget",
    "ListenerTimeouts",
    "format_address",
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


def format_address(host: str, port: int) -> str:
    """``host:port`` as a user writes it, an IPv6 host in brackets: ``[::1]:8080``."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class ByteBudget:
    """Bytes that requests may hold at once; a request beyond it is refused, not queued.

    :param limit: the budget in bytes.
    :param setting: the setting that raises it, named when a request is refused.
    """

    __slots__ = ("limit", "setting", "used")

    def __init__(self, limit: int, setting: str = "attributes.maxBytesInFlight") -> None:
        self.limit = limit
        self.setting = setting
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
