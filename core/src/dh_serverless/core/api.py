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
- listeners: :func:`listener_timeouts` (read and idle timeouts every listener applies),
  :func:`runner_options` and :class:`TimedRequestHandler` (aiohttp with them applied, loaded
  on first use), :class:`ByteBudget` (bytes held by requests at once), :func:`cap_text`
  (an echo of bad input, capped at :data:`MAX_ECHO`);
- sinks: :func:`body_bytes` and :func:`timestamp_text` (an item's body and capture time).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dh_serverless.core import validators
from dh_serverless.core.config import CONVERTER, Duration, display_key
from dh_serverless.core.durations import parse_go_duration
from dh_serverless.core.errors import UserError
from dh_serverless.core.events import EventFactory, new_event
from dh_serverless.core.handoff import DropPolicy, Handoff
from dh_serverless.core.limits import ByteBudget, ListenerTimeouts, listener_timeouts
from dh_serverless.core.responses import MAX_ECHO, cap_text, decode_body, encode_json, to_response
from dh_serverless.core.sinkitems import body_bytes, timestamp_text

if TYPE_CHECKING:
    from dh_serverless.core.listeners import TimedRequestHandler, runner_options

#: Names that need aiohttp: imported on first use, so a plugin without a listener (a job)
#: never loads the HTTP stack.
_LAZY = {"TimedRequestHandler": "listeners", "runner_options": "listeners"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"dh_serverless.core.{module}"), name)
    globals()[name] = value
    return value


__all__ = (
    "CONVERTER",
    "MAX_ECHO",
    "ByteBudget",
    "DropPolicy",
    "Duration",
    "EventFactory",
    "Handoff",
    "ListenerTimeouts",
    "TimedRequestHandler",
    "UserError",
    "body_bytes",
    "cap_text",
    "decode_body",
    "display_key",
    "encode_json",
    "listener_timeouts",
    "new_event",
    "parse_go_duration",
    "runner_options",
    "timestamp_text",
    "to_response",
    "validators",
)
