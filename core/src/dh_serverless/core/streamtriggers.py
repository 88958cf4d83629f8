"""What the stream triggers share (mjpeg and rtsp read a camera; websocket serves clients).

- :func:`trigger_attributes`: a trigger's ``spec.attributes`` as its own attributes class;
- :func:`redact_url`: a source URL without its password, for logs and events;
- :class:`SourceTrigger`: the skeleton of a trigger reading one source (mjpeg, rtsp): its
  attributes checked, results to the sink in event order, its :class:`SourceLink` and its
  :class:`StreamEvents`, made once in ``__init__``; the subclass reads the stream;
- :class:`SourceLink`: a trigger's link to its source: the URL, whether it is connected,
  the frame rate arriving, and the reconnect back-off with its one log line;
- :class:`SourceMetrics`: the families of a trigger reading a source, named alike;
- :class:`StreamEvents`: the events of a stream, numbered, stamped with their exact time.
"""

from __future__ import annotations

import datetime
from typing import Any, ClassVar, Generic, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

from dh_serverless.hookspecs import Event, TriggerInfo, TriggerSpec
from dh_serverless.hookspecs.metrics import CounterCell, Metrics, RateMeter

__all__ = (
    "SourceAttributes",
    "SourceLink",
    "SourceMetrics",
    "SourceTrigger",
    "StreamEvents",
    "redact_url",
    "trigger_attributes",
)

A = TypeVar("A")


def trigger_attributes(spec: TriggerSpec, cls: type[A], kind: str) -> A:
    """``spec.attributes`` when it is a ``cls`` (the core structures them so from the
    trigger's ``attributes_type``), else a ``TypeError`` naming the ``kind`` of trigger."""
    attributes = spec.attributes
    if not isinstance(attributes, cls):
        raise TypeError(f"the {kind} trigger needs {cls.__name__}")
    return attributes


def redact_url(url: str) -> str:
    """``url`` without a password (``user:***@host``), fit for logs and events."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:***@{host}" if parts.username else host
    return urlunsplit(parts._replace(netloc=netloc))


class SourceLink:
    """A stream trigger's link to its source (a camera, an RTSP server).

    Holds the URL (stripped) and :attr:`public_url` (without a password: what logs and
    events show), :attr:`connected` (set by the trigger's reader), :attr:`fps` (ticked per
    frame arriving), and the reconnect back-off: :meth:`lost` logs the loss and returns
    how long to wait, ``reconnect_delay`` at first, doubling after each attempt that
    brought nothing up to ``max_reconnect_delay``, back to ``reconnect_delay`` once an
    attempt brought data. The trigger never stops on its own.

    :param spec: the trigger's spec (its name, with ``kind``, names the trigger in the log).
    :param kind: the trigger's kind (``mjpeg``).
    :param url: the source's URL, credentials included.
    :param reconnect_delay: seconds before the first attempt after a loss.
    :param max_reconnect_delay: the back-off's cap.
    """

    __slots__ = (
        "_delay", "_first", "_logger", "_max", "connected", "fps", "label", "public_url", "url",
    )  # fmt: skip

    def __init__(
        self,
        spec: TriggerSpec,
        kind: str,
        url: str,
        *,
        reconnect_delay: float,
        max_reconnect_delay: float,
    ) -> None:
        self.url = url.strip()
        self.public_url = redact_url(self.url)
        self.label = f"{kind} trigger {spec.name}"
        self.connected = False
        self.fps = RateMeter()
        self._logger = spec.logger
        self._first = float(reconnect_delay)
        self._max = float(max_reconnect_delay)
        self._delay = self._first

    def is_connected(self) -> float:
        """1 while a stream is being read, else 0 (the ``connected`` gauge's function)."""
        return float(self.connected)

    def lost(self, reason: str, *, got_data: bool) -> float:
        """Log that the source was lost for ``reason``; the seconds to wait before the next
        attempt (``got_data``: the attempt that ended brought data, the back-off restarts)."""
        self.connected = False
        if got_data:
            self._delay = self._first
        delay = self._delay
        self._logger.warning(
            "%s lost %s: %s; reconnecting in %.1fs", self.label, self.public_url, reason, delay
        )
        self._delay = min(max(delay * 2, 0.1), self._max)
        return delay


class SourceMetrics:
    """The families of a trigger reading a source, labelled ``trigger``; cells kept for the
    hot path.

    ================================================  ===================================
    ``<prefix>_frames_received_total``                frames arriving from the source
    ``<prefix>_<events>_processed_total``             the handler answered below 400
    ``<prefix>_<events>_dropped_total{reason}``       not handled, by ``reasons``
    ``<prefix>_reconnects_total``                     connections lost or refused, retried
    ``<prefix>_source_fps``                           frames per second arriving
    ``<prefix>_connected``                            1 while a stream is being read
    ================================================  ===================================

    Each reason's cell is in :attr:`dropped` (and an attribute of the subclass, by habit).

    :param registry: the runtime's registry (``spec.metrics``).
    :param trigger: the trigger's name (the ``trigger`` label).
    :param link: the trigger's :class:`SourceLink` (read at scrape time).
    :param prefix: the families' prefix (``dh_mjpeg``).
    :param received: what a frame received is (the help text of the first family).
    :param events: what is processed or dropped: ``frames`` or ``events``.
    :param reasons: why one is dropped.
    """

    def __init__(
        self,
        registry: Metrics,
        trigger: str,
        link: SourceLink,
        *,
        prefix: str,
        received: str,
        events: str = "frames",
        reasons: tuple[str, ...],
    ) -> None:
        labels = ("trigger",)
        what = events.capitalize()
        self.received: CounterCell = registry.counter(
            f"{prefix}_frames_received", received, labels
        ).labels(trigger)
        self.processed: CounterCell = registry.counter(
            f"{prefix}_{events}_processed", f"{what} the handler answered below 400", labels
        ).labels(trigger)
        dropped = registry.counter(
            f"{prefix}_{events}_dropped", f"{what} not handled, by reason", ("trigger", "reason")
        )
        self.dropped = {reason: dropped.labels(trigger, reason) for reason in reasons}
        self.reconnects: CounterCell = registry.counter(
            f"{prefix}_reconnects", "Source connections lost or refused, then retried", labels
        ).labels(trigger)
        registry.gauge(
            f"{prefix}_source_fps", "Frames per second arriving from the source", labels
        ).labels(trigger).set_function(link.fps.read)
        registry.gauge(
            f"{prefix}_connected", "1 while the source stream is being read", labels
        ).labels(trigger).set_function(link.is_connected)


class StreamEvents:
    """Makes the events of one stream: ``id`` ``<trigger>-<number>``, the exact time the
    data arrived (timezone-aware), the trigger's info, URL, path and method bound once.

    :param info: the trigger's info (its name starts every id).
    :param url: ``event.url`` (a source's public URL).
    :param path: ``event.path``.
    :param method: ``event.method``.
    """

    __slots__ = ("_prefix", "info", "method", "path", "url")

    def __init__(self, info: TriggerInfo, *, url: str, path: str, method: str) -> None:
        self.info = info
        self.url = url
        self.path = path
        self.method = method
        self._prefix = f"{info.name}-"

    def __call__(
        self,
        body: Any,
        number: object,
        *,
        kind: str,
        content_type: str,
        fields: dict[str, object],
        size: int,
        timestamp: datetime.datetime,
    ) -> Event:
        """Event ``number`` (``12``, or ``"3-12"``: client 3's twelfth) of type ``kind``."""
        return Event(
            body=body,
            content_type=content_type,
            trigger=self.info,
            fields=fields,
            _id=f"{self._prefix}{number}",
            method=self.method,
            path=self.path,
            size=size,
            timestamp=timestamp,
            url=self.url,
            _type=kind,
        )


class SourceAttributes(Protocol):
    """What a :class:`SourceTrigger`'s attributes class has (seconds; ``Duration`` fields)."""

    @property
    def order_wait(self) -> float:
        """How long a result waits for those before it (0: no ordering)."""
        ...

    @property
    def reconnect_delay(self) -> float:
        """Seconds before the first attempt after a loss."""
        ...

    @property
    def max_reconnect_delay(self) -> float:
        """The reconnect back-off's cap."""
        ...


S = TypeVar("S", bound=SourceAttributes)


class SourceTrigger(Generic[S]):
    """The skeleton of a trigger that reads one stream source (a camera, an RTSP server).

    ``__init__`` checks ``spec.attributes`` against the class's ``attributes_type``, asks the
    core for results in event order (``sink_order_wait`` from ``order_wait``; 0: none), makes
    the :class:`SourceLink` to :meth:`source_url` and the :class:`StreamEvents` of its
    events. The subclass makes its metrics from ``link`` and reads the stream in ``start``:
    it sets ``link.connected``, ticks ``link.fps`` per frame, sleeps ``link.lost(...)``
    seconds after a loss, and makes each event with ``events(...)``.

    :param spec: the trigger's spec.
    :param method: ``event.method`` of its events.
    :param path: ``event.path`` of its events (``None``: the source's public URL).
    """

    kind: ClassVar[str]
    attributes_type: ClassVar[type]

    def __init__(self, spec: TriggerSpec, *, method: str = "", path: str | None = None) -> None:
        a: S = trigger_attributes(spec, self.attributes_type, self.kind)
        self.attributes = a
        self.name = spec.name
        self.spec = spec
        self._logger = spec.logger
        wait = float(a.order_wait)
        #: the core delivers results to the sink in event order, waiting at most this long
        self.sink_order_wait: float | None = wait if wait > 0 else None
        self.link = SourceLink(
            spec, self.kind, self.source_url(a), reconnect_delay=float(a.reconnect_delay),
            max_reconnect_delay=float(a.max_reconnect_delay),
        )  # fmt: skip
        self.url = self.link.url
        self.public_url = self.link.public_url
        self.events = StreamEvents(
            TriggerInfo(self.kind, self.name), url=self.public_url,
            path=self.public_url if path is None else path, method=method,
        )  # fmt: skip

    def source_url(self, attributes: S) -> str:
        """The source's URL, from the attributes (credentials included)."""
        raise NotImplementedError

    @property
    def connected(self) -> bool:
        """Whether a stream is being read now."""
        return self.link.connected
