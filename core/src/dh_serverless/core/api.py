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
- Python 3.10: :data:`UTC`, :func:`timeout`, :data:`TIMEOUT_ERRORS` (see
  :mod:`dh_serverless.core.compat`), for plugins DH Core's 3.10 images carry.
"""

from __future__ import annotations

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
from dh_serverless.core.sinkitems import body_bytes, timestamp_text
from dh_serverless.core.streams import StreamDispatch
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

__all__ = (
    "CONVERTER",
    "TIMEOUT_ERRORS",
    "UTC",
    "VIDEO_CLOCK",
    "ByteBudget",
    "DropPolicy",
    "Duration",
    "EventFactory",
    "Handoff",
    "ListenerTimeouts",
    "MediaClock",
    "RecentRate",
    "RollingBuffer",
    "SourceAttributes",
    "SourceLink",
    "SourceMetrics",
    "SourceTrigger",
    "StreamDispatch",
    "StreamEvents",
    "UserError",
    "VideoEncoder",
    "ViewerMetrics",
    "body_bytes",
    "cap_text",
    "decode_body",
    "display_key",
    "encode_json",
    "listener_timeouts",
    "local_url",
    "new_event",
    "parse_go_duration",
    "redact_url",
    "rgb_array",
    "runner_options",
    "serve_app",
    "timeout",
    "timestamp_text",
    "to_response",
    "trigger_attributes",
    "validators",
    "viewer_page",
    "watch_body_reads",
)
