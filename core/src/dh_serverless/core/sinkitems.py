"""What every sink does with an item: its body as bytes, its timestamp as text.

Shared by the sinks (a sink never imports another sink) so that each sends the same bytes
and writes times the same way.
"""

from __future__ import annotations

import datetime
from typing import Any

from dh_serverless.core.compat import UTC

__all__ = ("body_bytes", "timestamp_text")


def body_bytes(body: Any) -> bytes:
    """A response body as bytes: bytes-like as is, ``str`` as UTF-8, ``None`` as empty.

    Raises ``TypeError`` for anything else (a ``Response`` a handler built by hand, never
    one the core converted): the core logs and counts it as a failed item.
    """
    if isinstance(body, bytes):
        return body
    if isinstance(body, (bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode()
    if body is None:
        return b""
    raise TypeError(f"the sink sends bytes or text, got a {type(body).__name__} body")


def timestamp_text(value: Any) -> str | None:
    """``value`` as ISO 8601 (a naive ``datetime`` is taken as UTC), or None when unset."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return str(value.isoformat())
    if value is None or value == 0 or value == "":
        return None
    return str(value)
