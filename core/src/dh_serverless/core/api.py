"""The core's plugin surface: the one module of ``dh_serverless.core`` a plugin imports.

Triggers and sinks import from here, from :mod:`dh_serverless.hookspecs` and from
:mod:`dh_serverless.testing`; everything else in ``dh_serverless.core`` is private to the core
and may change (``tests/test_plugin_api.py`` holds every plugin to it).

- configuration: :data:`CONVERTER` (the one cattrs converter), :class:`Duration`,
  :func:`parse_go_duration`, :func:`display_key`, :mod:`validators` (attribute checks with
  one wording), :class:`UserError` (an error the user can fix: exits cleanly, no traceback);
- events: :class:`EventFactory` (the hot-path builder) and :func:`new_event` (one-off);
- results: :func:`to_response` (Nuclio's conversion), :func:`decode_body`,
  :func:`encode_json`;
- hand-off: :class:`Handoff`, a bounded queue to async consumers that never makes its
  producer wait, with a named :data:`DropPolicy` and every drop counted once;
- sinks: :func:`body_bytes` and :func:`timestamp_text` (an item's body and capture time);
- listeners: :func:`listener_timeouts` (idle and read timeouts from the environment),
  :func:`serve_app` (an aiohttp application served with them, its port and a clear error),
  :func:`runner_options` and :func:`watch_body_reads` (apply them to an aiohttp server),
  :class:`ByteBudget` (bytes several requests may hold at once), :func:`cap_text` (what
  an error answer may echo of a client's input).
- serving: :class:`Lifecycle` (a trigger's started guard, in-flight tracking and
  drain-then-cancel, see :mod:`dh_serverless.core.serving.lifecycle`);
- streams: :class:`RollingBuffer`, the bounded window of recent stream bytes (websocket
  stream mode, rtsp audio); :class:`StreamDispatch`, one stream event dispatched with its
  outcome counted and failures logged throttled (mjpeg frames, rtsp events);
- serving layer (:mod:`dh_serverless.core.serving`, loaded on first use, so a job imports
  no grpc): :class:`GrpcListener` (a ``grpc.aio`` server with health, reflection, bind
  errors and a graceful stop), :class:`StreamListener` and :class:`Connection` (TCP: a
  connection registry, limits, idle timeout, graceful close), :class:`DatagramListener`
  (UDP: size limit, bounded in flight, drain), :class:`MessageTooLarge`,
  :func:`format_address` (``host:port``, ``[v6]:port``);
- Python 3.10: :data:`UTC`, :func:`timeout`, :data:`TIMEOUT_ERRORS` (see
  :mod:`dh_serverless.core.compat`), for plugins DH Core's 3.10 images carry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dh_serverless.core import validators
from dh_serverless.core.compat import TIMEOUT_ERRORS, UTC, timeout
from dh_serverless.core.config import CONVERTER, Duration, display_key
from dh_serverless.core.durations import parse_go_duration
from dh_serverless.core.errors import UserError
from dh_serverless.core.events import EventFactory, new_event
from dh_serverless.core.handoff import DropPolicy, Handoff
from dh_serverless.core.listeners import (
    ByteBudget,
    ListenerTimeouts,
    listener_timeouts,
    runner_options,
    serve_app,
    watch_body_reads,
)
from dh_serverless.core.responses import cap_text, decode_body, encode_json, to_response
from dh_serverless.core.rollingbuffer import RollingBuffer
from dh_serverless.core.serving.addresses import format_address
from dh_serverless.core.serving.lifecycle import Lifecycle
from dh_serverless.core.sinkitems import body_bytes, timestamp_text
from dh_serverless.core.streams import StreamDispatch

if TYPE_CHECKING:
    from dh_serverless.core.serving.datagram import DatagramListener
    from dh_serverless.core.serving.grpc import GrpcListener
    from dh_serverless.core.serving.stream import Connection, MessageTooLarge, StreamListener

__all__ = (
    "CONVERTER",
    "TIMEOUT_ERRORS",
    "UTC",
    "ByteBudget",
    "Connection",
    "DatagramListener",
    "DropPolicy",
    "Duration",
    "EventFactory",
    "GrpcListener",
    "Handoff",
    "Lifecycle",
    "ListenerTimeouts",
    "MessageTooLarge",
    "RollingBuffer",
    "StreamDispatch",
    "StreamListener",
    "UserError",
    "body_bytes",
    "cap_text",
    "decode_body",
    "display_key",
    "encode_json",
    "format_address",
    "listener_timeouts",
    "new_event",
    "parse_go_duration",
    "runner_options",
    "serve_app",
    "timeout",
    "timestamp_text",
    "to_response",
    "validators",
    "watch_body_reads",
)

#: names loaded on first use, from the module that defines them (grpc only when asked for)
_LAZY = {
    "GrpcListener": "dh_serverless.core.serving.grpc",
    "StreamListener": "dh_serverless.core.serving.stream",
    "Connection": "dh_serverless.core.serving.stream",
    "MessageTooLarge": "dh_serverless.core.serving.stream",
    "DatagramListener": "dh_serverless.core.serving.datagram",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
