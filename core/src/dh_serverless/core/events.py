"""Building events with Nuclio's values for every attribute a trigger does not set."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Mapping
from typing import Any

from dh_serverless.core.compat import UTC
from dh_serverless.core.responses import decode_body
from dh_serverless.hookspecs.types import Event, TriggerInfo

__all__ = ("new_event",)


def new_event(
    raw: bytes = b"",
    *,
    trigger: TriggerInfo,
    content_type: str = "",
    headers: Mapping[str, Any] | None = None,
    fields: Mapping[str, Any] | None = None,
    method: str = "",
    path: str = "/",
    url: str = "",
) -> Event:
    """An event as Nuclio's triggers fill it: a UUID ``id``, the current time in whole
    seconds (naive UTC), ``size`` of the raw body, ``shard_id`` -1 and empty strings for
    the stream attributes. The body follows :func:`decode_body`: JSON-decoded only for
    exactly ``application/json``, else ``bytes``."""
    return Event(
        body=decode_body(content_type, raw),
        content_type=content_type,
        trigger=trigger,
        fields=dict(fields or {}),
        headers=dict(headers or {}),
        _id=str(uuid.uuid4()),
        method=method,
        path=path,
        size=len(raw),
        timestamp=datetime.datetime.now(UTC).replace(tzinfo=None, microsecond=0),
        url=url,
        shard_id=-1,
        num_shards=0,
        _type="",
        type_version="",
        version="",
        topic="",
    )
