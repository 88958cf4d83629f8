"""The core's plugin surface: the one module of ``dh_serverless.core`` a plugin imports.

Triggers and sinks import from here, from :mod:`dh_serverless.hookspecs` and from
:mod:`dh_serverless.testing`; everything else in ``dh_serverless.core`` is private to the core
and may change (``tests/test_plugin_api.py`` holds every plugin to it).

- configuration: :data:`CONVERTER` (the one cattrs converter), :class:`Duration`,
  :func:`parse_go_duration`, :func:`display_key`, :mod:`validators` (attribute checks with
  one wording), :class:`UserError` (an error the user can fix: exits cleanly, no traceback),
  :class:`ListenError` (an address that cannot be bound: a ``UserError`` and an ``OSError``);
- events: :class:`EventFactory` (the hot-path builder), :class:`EventIds` (its ids, for a
  trigger that builds its events itself) and :func:`new_event` (one-off);
- results: :func:`to_response` (Nuclio's conversion), :func:`decode_body`,
  :func:`encode_json`;
- hand-off: :class:`Handoff`, a bounded queue to async consumers that never makes its
  producer wait, with a named :data:`DropPolicy` and every drop counted once;
- sinks: :func:`body_bytes` and :func:`timestamp_text` (an item's body and capture time);
- serving (:mod:`dh_serverless.core.serving`): :class:`Lifecycle` (a trigger's started
  guard, in-flight tracking and drain-then-cancel); the HTTP listener,
  :func:`serve_handler` (one coroutine per request, aiohttp's low-level server) and
  :func:`serve_app` (a ``web.Application``), both returning an :class:`HttpListener` (port
  bound, ``[host]:port``, a stop in aiohttp's order), :func:`read_body` (a body up to a
  limit, in a :class:`ByteBudget`, with the read timeout; :class:`BodyError` otherwise),
  :class:`OtherVersionRequest`, :func:`text_answer` / :func:`json_answer` (the form of the
  listener's own error answers); :func:`listener_timeouts` and :func:`runner_options` (idle
  and read timeouts from the environment), :func:`format_address`, :func:`cap_text` (what
  an error answer may echo of a client's input). The HTTP names load aiohttp when first
  used, never with this module;
- streams: :class:`RollingBuffer`, the bounded window of recent stream bytes (websocket
  stream mode, rtsp audio); :class:`StreamDispatch`, one stream event dispatched with its
  outcome counted and failures logged throttled (mjpeg frames, rtsp events);
  :class:`SourceTrigger` (the skeleton of a trigger reading one source, its attributes a
  :class:`SourceAttributes`), :class:`SourceLink` (a stream trigger's source: URL,
  connected, frame rate, reconnect back-off), :class:`SourceMetrics` (its families, named
  alike), :class:`StreamEvents` (numbered events stamped with their exact time),
  :func:`redact_url`,
  :func:`trigger_attributes` (``spec.attributes`` as the trigger's class);
- media sinks: :func:`viewer_page` (the one page a browser watches a live stream on),
  :class:`VideoEncoder` (handler results, JPEG or RGB arrays, to a codec's packets: the
  rtsp and webrtc sinks' encoders; PyAV imported only when one is made), :func:`rgb_array`,
  :data:`VIDEO_CLOCK`; :class:`ViewerMetrics` (the viewer families, named alike in each
  sink), :class:`MediaClock` (frame times anchored to this machine's clock),
  :class:`RecentRate` (a viewer page's frame rate), :func:`local_url`;
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

from importlib import import_module as _import_module
from typing import TYPE_CHECKING, Any

from dh_serverless.core import validators
from dh_serverless.core.compat import TIMEOUT_ERRORS, UTC, timeout
from dh_serverless.core.config import CONVERTER, Duration, display_key
from dh_serverless.core.durations import parse_go_duration
from dh_serverless.core.errors import ListenError, UserError
from dh_serverless.core.events import EventFactory, EventIds, new_event
from dh_serverless.core.handoff import DropPolicy, Handoff
from dh_serverless.core.responses import cap_text, decode_body, encode_json, to_response
from dh_serverless.core.rollingbuffer import RollingBuffer
from dh_serverless.core.serving.lifecycle import Lifecycle, drain_tasks
from dh_serverless.core.serving.limits import (
    ByteBudget,
    ListenerTimeouts,
    format_address,
    listener_timeouts,
    runner_options,
)
from dh_serverless.core.sinkitems import body_bytes, timestamp_text
from dh_serverless.core.streams import StreamDispatch

if TYPE_CHECKING:
    from dh_serverless.core.serving.datagram import DatagramListener
    from dh_serverless.core.serving.grpc import GrpcListener
    from dh_serverless.core.serving.http import (
        BodyError,
        ErrorAnswer,
        HttpListener,
        OtherVersionRequest,
        RequestHandler,
        json_answer,
        read_body,
        serve_app,
        serve_handler,
        text_answer,
    )
    from dh_serverless.core.serving.stream import Connection, MessageTooLarge, StreamListener
    from dh_serverless.core.streamtriggers import (
        SourceAttributes,
        SourceLink,
        SourceMetrics,
        SourceTrigger,
        StreamEvents,
        redact_url,
        trigger_attributes,
    )
    from dh_serverless.core.video import VIDEO_CLOCK, VideoEncoder, rgb_array
    from dh_serverless.core.viewerpage import viewer_page
    from dh_serverless.core.viewers import MediaClock, RecentRate, ViewerMetrics, local_url


def __getattr__(name: str) -> Any:
    """The serving layer's and the media plugins' names, imported on first use: a job loads
    no aiohttp, no grpc, and none of what only stream triggers and media sinks use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_import_module(module), name)
    globals()[name] = value
    return value


__all__ = (
    "CONVERTER",
    "TIMEOUT_ERRORS",
    "UTC",
    "VIDEO_CLOCK",
    "BodyError",
    "ByteBudget",
    "Connection",
    "DatagramListener",
    "DropPolicy",
    "Duration",
    "ErrorAnswer",
    "EventFactory",
    "EventIds",
    "GrpcListener",
    "Handoff",
    "HttpListener",
    "Lifecycle",
    "ListenError",
    "ListenerTimeouts",
    "MediaClock",
    "MessageTooLarge",
    "OtherVersionRequest",
    "RecentRate",
    "RequestHandler",
    "RollingBuffer",
    "SourceAttributes",
    "SourceLink",
    "SourceMetrics",
    "SourceTrigger",
    "StreamDispatch",
    "StreamEvents",
    "StreamListener",
    "UserError",
    "VideoEncoder",
    "ViewerMetrics",
    "body_bytes",
    "cap_text",
    "decode_body",
    "display_key",
    "drain_tasks",
    "encode_json",
    "format_address",
    "json_answer",
    "listener_timeouts",
    "local_url",
    "new_event",
    "parse_go_duration",
    "read_body",
    "redact_url",
    "rgb_array",
    "runner_options",
    "serve_app",
    "serve_handler",
    "text_answer",
    "timeout",
    "timestamp_text",
    "to_response",
    "trigger_attributes",
    "validators",
    "viewer_page",
)

#: names loaded on first use, from the module that defines them
_LAZY = {
    "GrpcListener": "dh_serverless.core.serving.grpc",
    "StreamListener": "dh_serverless.core.serving.stream",
    "Connection": "dh_serverless.core.serving.stream",
    "MessageTooLarge": "dh_serverless.core.serving.stream",
    "DatagramListener": "dh_serverless.core.serving.datagram",
    **dict.fromkeys(
        (
            "SourceAttributes",
            "SourceLink",
            "SourceMetrics",
            "SourceTrigger",
            "StreamEvents",
            "redact_url",
            "trigger_attributes",
        ),
        "dh_serverless.core.streamtriggers",
    ),
    **dict.fromkeys(("VIDEO_CLOCK", "VideoEncoder", "rgb_array"), "dh_serverless.core.video"),
    "viewer_page": "dh_serverless.core.viewerpage",
    **dict.fromkeys(
        ("MediaClock", "RecentRate", "ViewerMetrics", "local_url"), "dh_serverless.core.viewers"
    ),
}
#: the rest of what ``__all__`` names but this module does not define: the HTTP names
_HTTP = "dh_serverless.core.serving.http"
_LAZY.update(dict.fromkeys(frozenset(__all__) - set(globals()) - set(_LAZY), _HTTP))
