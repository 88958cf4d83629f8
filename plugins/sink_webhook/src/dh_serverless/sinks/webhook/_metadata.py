"""An event's metadata (frame number, timestamp, source, event id) as HTTP header values."""

from __future__ import annotations

import re
from typing import Any

from dh_serverless.core.api import timestamp_text
from dh_serverless.hookspecs import Event

__all__ = ("metadata_headers",)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MAX_VALUE = 2048


def _clean(value: Any) -> str | None:
    if value is None:
        return None
    text = _CONTROL.sub("", str(value))[:_MAX_VALUE]
    return text or None


def metadata_headers(event: Event) -> dict[str, str]:
    """The ``X-DH-*`` headers describing ``event``; absent values are left out.

    The mjpeg trigger's fields ``frame_num``, ``timestamp`` and ``url`` are used first;
    other triggers fall back on ``event.timestamp``, ``event.url`` and ``event.id``. Values
    never contain control characters (a header cannot carry them).
    """
    fields = event.fields if isinstance(event.fields, dict) else {}
    found = {
        "X-DH-Frame-Number": fields.get("frame_num"),
        "X-DH-Timestamp": timestamp_text(fields.get("timestamp") or event.timestamp),
        "X-DH-Source": fields.get("url") or event.url,
        "X-DH-Event-Id": event.id,
        "X-DH-Trigger": event.trigger.name if event.trigger is not None else None,
    }
    headers = {}
    for name, value in found.items():
        text = _clean(value)
        if text is not None:
            headers[name] = text
    return headers
