"""Building events with Nuclio's values for every attribute a trigger does not set.

:class:`EventFactory` is what a trigger holds on its hot path: the trigger info bound once,
a UUID4-shaped id from a fast (non-cryptographic) generator, and the timestamp of the
current second reused. :func:`new_event` is the one-off form of the same.
"""

from __future__ import annotations

import datetime
import random
import time
from collections.abc import Mapping
from typing import Any

from dh_serverless.core.compat import UTC
from dh_serverless.core.responses import decode_body
from dh_serverless.hookspecs.types import Event, TriggerInfo

__all__ = ("EventFactory", "new_event")

#: uuid4: version nibble 4 and variant bits 10 set on 128 random bits.
_UUID_MASK = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_UUID_BITS = (0x4 << 76) | (0x2 << 62)
#: One generator for every factory, seeded once from the OS (seeding costs more than an event).
_random_bits = random.Random().getrandbits


class EventFactory:
    """Makes the events of one trigger, as Nuclio's triggers fill them.

    An event gets a UUID4-shaped ``id`` (random, not for security: ``random.getrandbits``
    costs a fraction of ``uuid.uuid4``), the current time in whole seconds as a naive
    UTC ``datetime`` (built once per second), ``size`` of the raw body, ``shard_id`` -1
    and empty strings for the stream attributes. The body follows :func:`decode_body`
    unless the trigger passes one already decoded.
    """

    __slots__ = ("_bits", "_clock", "_second", "_stamp", "trigger")

    def __init__(self, trigger: TriggerInfo) -> None:
        self.trigger = trigger
        self._bits = _random_bits
        self._clock = time.time
        self._second = -1
        self._stamp = datetime.datetime(1970, 1, 1)

    def new_id(self) -> str:
        """A random UUID4 string."""
        h = "%032x" % (self._bits(128) & _UUID_MASK | _UUID_BITS)
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def timestamp(self) -> datetime.datetime:
        """The current second as a naive UTC ``datetime``, as Nuclio's events carry it."""
        second = int(self._clock())
        if second != self._second:
            self._second = second
            self._stamp = datetime.datetime.fromtimestamp(second, UTC).replace(tzinfo=None)
        return self._stamp

    def __call__(
        self,
        raw: bytes = b"",
        *,
        content_type: str = "",
        headers: dict[str, Any] | None = None,
        fields: dict[str, Any] | None = None,
        method: str = "",
        path: str = "/",
        url: str = "",
        body: Any = None,
    ) -> Event:
        """One event. ``headers`` and ``fields`` are taken as they are (not copied);
        ``body``, when given, is used instead of decoding ``raw``."""
        h = "%032x" % (self._bits(128) & _UUID_MASK | _UUID_BITS)
        return Event(
            decode_body(content_type, raw) if body is None else body,
            content_type,
            self.trigger,
            fields,
            headers,
            f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}",
            method,
            path,
            len(raw),
            self.timestamp(),
            url,
            -1,
            0,
            "",
            "",
            "",
            False,
            0,
            "",
        )


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
    """An event as :class:`EventFactory` makes it, for a trigger that makes few (a job);
    ``headers`` and ``fields`` are copied."""
    return EventFactory(trigger)(
        raw,
        content_type=content_type,
        headers=dict(headers or {}),
        fields=dict(fields or {}),
        method=method,
        path=path,
        url=url,
    )
