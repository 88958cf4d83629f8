"""What one result becomes on a WebSocket: a text or binary message, and its metadata."""

from __future__ import annotations

import json
from typing import Protocol

from dh_serverless.core.api import body_bytes, timestamp_text
from dh_serverless.hookspecs import Event, Response
from dh_serverless.hookspecs.metrics import CounterCell

__all__ = ("Message", "encode", "metadata_json", "send")

#: ``(is_text, payload)``: the payload is ``str`` for a text message, ``bytes`` otherwise.
Message = tuple[bool, str | bytes]


class _Socket(Protocol):
    """A client's or a server's aiohttp WebSocket: what ``send`` writes to."""

    async def send_str(self, data: str) -> None: ...

    async def send_bytes(self, data: bytes) -> None: ...


async def send(ws: _Socket, item: tuple[Message, ...], sent: CounterCell) -> None:
    """Send one result's messages on ``ws`` in order, counting each in ``sent``."""
    for is_text, payload in item:
        if is_text:
            await ws.send_str(payload)  # type: ignore[arg-type]
        else:
            await ws.send_bytes(payload)  # type: ignore[arg-type]
        sent.inc()


def _textual(content_type: str) -> bool:
    base = content_type.split(";", 1)[0].strip().lower()
    return base.startswith("text/") or base == "application/json" or base.endswith("+json")


def encode(response: Response, message_type: str) -> Message | None:
    """The message for ``response`` under ``message_type``; None if it cannot be sent.

    ``binary`` sends the body as is. ``text`` sends it as UTF-8 text (None when it is
    not UTF-8: a text message must be). ``auto`` sends text for a ``text/*`` or JSON
    content type whose body is UTF-8, binary otherwise.
    """
    body = body_bytes(response.body)
    if message_type == "binary":
        return False, body
    if message_type == "auto" and not _textual(response.content_type or ""):
        return False, body
    try:
        return True, body.decode("utf-8")
    except UnicodeDecodeError:
        return None if message_type == "text" else (False, body)


def metadata_json(response: Response, event: Event) -> str:
    """The event's metadata as one JSON object (the ``sendMetadata`` message).

    Keys: ``frame_num``, ``timestamp`` (ISO 8601), ``source``, ``event_id``,
    ``content_type``, ``size``; the mjpeg trigger's fields first, the event's own
    attributes otherwise; unknown values are ``null``.
    """
    fields = event.fields if isinstance(event.fields, dict) else {}
    frame = fields.get("frame_num")
    data = {
        "frame_num": frame if isinstance(frame, (int, str)) or frame is None else str(frame),
        "timestamp": timestamp_text(fields.get("timestamp") or event.timestamp),
        "source": str(fields.get("url") or event.url or "") or None,
        "event_id": event.id,
        "content_type": response.content_type,
        "size": len(body_bytes(response.body)),
    }
    return json.dumps(data, default=str)
