"""The objects that travel through dh-serverless: events in, responses out.

``Event`` and ``Response`` keep the constructor signatures and attribute names of
``nuclio_sdk.Event`` and ``nuclio_sdk.Response`` so handlers written for Nuclio run
unchanged. They are written by hand (not attrs) because Nuclio's constructor takes
``_id`` and ``_type`` keywords and because both sit on the hot path.
"""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

__all__ = (
    "CallNext",
    "Converted",
    "Dispatch",
    "Event",
    "Middleware",
    "Response",
    "TriggerInfo",
)


class TriggerInfo:
    """The trigger an event came from: ``kind`` (``"http"``) and ``name`` (its key)."""

    __slots__ = ("kind", "name")

    def __init__(self, kind: str = "", name: str = "") -> None:
        self.kind = kind
        self.name = name

    def __repr__(self) -> str:
        return f"TriggerInfo(kind={self.kind!r}, name={self.name!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, TriggerInfo) and other.kind == self.kind and other.name == self.name
        )

    def __hash__(self) -> int:
        return hash((self.kind, self.name))


class Event:
    """One event handed to ``handler(context, event)``, as ``nuclio_sdk.Event``.

    ``body`` is ``bytes``, or the decoded JSON value when the content type is exactly
    ``application/json`` (see :func:`decode_body`). ``headers`` and ``fields`` are
    plain dicts; :meth:`get_header` looks a header up ignoring case.
    """

    __slots__ = (
        "__dict__",
        "body",
        "content_type",
        "fields",
        "headers",
        "id",
        "last_in_batch",
        "method",
        "num_shards",
        "offset",
        "path",
        "shard_id",
        "size",
        "timestamp",
        "topic",
        "trigger",
        "type",
        "type_version",
        "url",
        "version",
    )

    def __init__(
        self,
        body: Any = None,
        content_type: str | None = None,
        trigger: TriggerInfo | None = None,
        fields: dict[str, Any] | None = None,
        headers: dict[str, Any] | None = None,
        _id: str | None = None,
        method: str | None = None,
        path: str | None = None,
        size: int | None = None,
        timestamp: datetime.datetime | int | None = None,
        url: str | None = None,
        shard_id: int | None = None,
        num_shards: int | None = None,
        _type: str | None = None,
        type_version: str | None = None,
        version: str | None = None,
        last_in_batch: bool = False,
        offset: int = 0,
        topic: str | None = None,
    ) -> None:
        self.body = body
        self.content_type = content_type
        self.trigger = trigger or TriggerInfo()
        self.fields = fields or {}
        self.headers = headers or {}
        self.id = _id
        self.method = method
        self.path = path or "/"
        self.size = size
        self.timestamp = timestamp or 0
        self.url = url
        self.shard_id = shard_id
        self.num_shards = num_shards
        self.type = _type
        self.type_version = type_version
        self.version = version
        self.last_in_batch = last_in_batch
        self.offset = offset
        self.topic = topic

    def get_header(self, name: str) -> Any:
        """Return the first header whose name equals ``name`` ignoring case, or None."""
        headers = self.headers
        value = headers.get(name)
        if value is not None:
            return value
        lowered = name.lower()
        for key, value in headers.items():
            if key.lower() == lowered:
                return value
        return None

    def get_field(self, name: str) -> Any:
        """Return the field (query parameter, frame number, ...) called ``name``, or None."""
        return self.fields.get(name)

    def to_json(self) -> str:
        """Serialise the public attributes as Nuclio does (bytes body as base64)."""
        import base64
        import json

        data: dict[str, Any] = {}
        for name in Event.__slots__:
            if name == "__dict__":
                continue
            value = getattr(self, name)
            if name == "trigger":
                value = {"kind": value.kind, "name": value.name}
            elif name == "body" and isinstance(value, (bytes, bytearray)):
                value = base64.b64encode(value).decode("ascii")
            elif isinstance(value, datetime.datetime):
                value = str(value)
            data[name] = value
        return json.dumps(data, default=str)

    def __repr__(self) -> str:
        return self.to_json()


class Response:
    """What a handler may return, and what the core hands back to a trigger.

    A handler builds it as ``nuclio_sdk.Response`` (any ``body``). What ``dispatch``
    resolves to is always converted: ``body`` is ``bytes``, ``headers`` maps ``str`` to
    ``str``, ``content_type`` is never empty and ``status_code`` is an ``int``; a trigger
    with a ``result_converter`` gets its results as :class:`Converted`, a ``Response``
    that carries the converted ``value`` beside an (empty) ``bytes`` body.
    """

    __slots__ = ("__dict__", "body", "content_type", "event_id", "headers", "status_code")

    def __init__(
        self,
        headers: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str | None = None,
        status_code: int = 200,
        event_id: str | None = None,
    ) -> None:
        self.headers = headers or {}
        self.body = body
        self.status_code = status_code
        self.content_type = content_type or "text/plain"
        self.event_id = event_id

    def ensure_no_ack(self) -> None:
        """Nuclio's stream hint; kept so handlers that call it keep working."""
        self.headers["x-nuclio-stream-no-ack"] = True  # type: ignore[index]

    def __repr__(self) -> str:
        return (
            f"Response(headers={self.headers!r}, body={self.body!r}, "
            f"status_code={self.status_code!r}, content_type={self.content_type!r}, "
            f"event_id={self.event_id!r})"
        )


class Converted(Response):
    """A handler's result in the form its trigger asked for: what a trigger's
    ``result_converter`` returns for a result it converted, and so what ``dispatch``
    resolves to for it, on every worker kind.

    ``value`` is the converted result itself: any object (numpy arrays, the trigger's own
    answer type), picklable when the function uses process workers (it crosses with pickle
    protocol 5, buffers as raw out-of-band frames). ``status_code``, ``headers`` and
    ``content_type`` are the answer's, as on any :class:`Response`; ``body`` stays
    ``bytes``: empty unless the converter also gives the bytes a sink of the trigger
    should send (a sink receives the ``Converted`` and may read ``value`` instead).

    A trigger tells a converted result from the core's own answers (a handler that
    raised: status 500 with a ``bytes`` body; a middleware's ``Response``) with
    ``isinstance(response, Converted)``.
    """

    __slots__ = ("value",)

    def __init__(
        self,
        value: Any,
        status_code: int = 200,
        headers: Mapping[str, Any] | None = None,
        content_type: str | None = None,
        body: bytes = b"",
        event_id: str | None = None,
    ) -> None:
        super().__init__(headers, body, content_type, status_code, event_id)
        self.value = value

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            Converted,
            (
                self.value,
                self.status_code,
                self.headers,
                self.content_type,
                self.body,
                self.event_id,
            ),
        )

    def __repr__(self) -> str:
        return (
            f"Converted(value={self.value!r}, status_code={self.status_code!r}, "
            f"headers={self.headers!r}, content_type={self.content_type!r})"
        )


class Dispatch(Protocol):
    """``await dispatch(event)``: what the core hands each trigger's ``start``.

    Resolves to the converted :class:`Response` (a :class:`Converted` for a result the
    trigger's ``result_converter`` converted) or raises a
    :class:`~dh_serverless.hookspecs.errors.DispatchError` (busy, timeout, lost, shutting
    down). While the runtime drains it refuses new events with ``ShuttingDownError``, but
    takes an event dispatched with ``continuation=True``: a later message of work already
    in flight (the next phase of a stream, a batch of requests already accepted), which
    must finish rather than be cut in half.
    """

    def __call__(self, event: Event, /, continuation: bool = False) -> Awaitable[Response]:
        """Hand ``event`` to a worker; see the class."""
        ...


#: The next step of the dispatch chain, as seen by a middleware.
CallNext = Callable[[Event], Awaitable[Response]]
#: ``async (event, call_next) -> Response``: a dispatch middleware.
Middleware = Callable[[Event, CallNext], Awaitable[Response]]
