"""Building events with Nuclio's values for every attribute a trigger does not set.

:class:`EventFactory` is what a trigger holds on its hot path: the trigger info bound once,
a UUID4-shaped id from :class:`EventIds`, and the timestamp of the current second reused.
:func:`new_event` is the one-off form of the same.
"""

from __future__ import annotations

import datetime
import itertools
import os
import time
from collections.abc import Mapping
from typing import Any

from dh_serverless.core.compat import UTC
from dh_serverless.core.responses import decode_body
from dh_serverless.hookspecs.types import Event, TriggerInfo

__all__ = ("EventFactory", "EventIds", "new_event")

#: uuid4: version nibble 4 and variant bits 10 set on 128 random bits.
_UUID_MASK = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_UUID_BITS = (0x4 << 76) | (0x2 << 62)
_COUNTER_MASK = (1 << 48) - 1


class EventIds:
    """UUID4-shaped event ids: a prefix of 74 random bits drawn from the OS when made (with
    the version nibble 4 and the variant bits), then a 48-bit counter in the last group.

    Call it for the next id. Unique for 2**48 ids, across processes and restarts with the
    odds of 74 random bits; not for security. A random UUID per event (``random`` and
    ``"%032x"``) cost about 9,500 instructions; this costs about 2,500.
    """

    __slots__ = ("_count", "prefix")

    def __init__(self) -> None:
        h = "%032x" % (int.from_bytes(os.urandom(16), "big") & _UUID_MASK | _UUID_BITS)
        #: the first 24 characters of every id (``xxxxxxxx-xxxx-4xxx-[89ab]xxx-``)
        self.prefix = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-"
        self._count = itertools.count(1)

    def __call__(self) -> str:
        return self.prefix + (next(self._count) & _COUNTER_MASK).to_bytes(6, "big").hex()


class EventFactory:
    """Makes the events of one trigger, as Nuclio's triggers fill them.

    An event gets a UUID4-shaped ``id`` (:class:`EventIds`: unique, not for security),
    the current time in whole seconds as a naive UTC ``datetime`` (built once per second),
    ``size`` of the raw body, ``shard_id`` -1 and empty strings for the stream attributes.
    The body follows :func:`decode_body` unless the trigger passes one already decoded.
    """

    __slots__ = ("_clock", "_second", "_stamp", "new_id", "trigger")

    def __init__(self, trigger: TriggerInfo, ids: EventIds | None = None) -> None:
        self.trigger = trigger
        #: the next event id (an :class:`EventIds`, the trigger's own unless given)
        self.new_id = ids or EventIds()
        self._clock = time.time
        self._second = -1
        self._stamp = datetime.datetime(1970, 1, 1)

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
        return Event(
            decode_body(content_type, raw) if body is None else body,
            content_type,
            self.trigger,
            fields,
            headers,
            self.new_id(),
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


_shared_ids: EventIds | None = None


def _one_off_ids() -> EventIds:
    global _shared_ids
    if _shared_ids is None:
        _shared_ids = EventIds()
    return _shared_ids


def _forget_shared_ids() -> None:  # a forked child draws its own prefix
    global _shared_ids
    _shared_ids = None


os.register_at_fork(after_in_child=_forget_shared_ids)


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
    ``headers`` and ``fields`` are copied. Ids come from one :class:`EventIds` of the
    process."""
    return EventFactory(trigger, _one_off_ids())(
        raw,
        content_type=content_type,
        headers=dict(headers or {}),
        fields=dict(fields or {}),
        method=method,
        path=path,
        url=url,
    )
