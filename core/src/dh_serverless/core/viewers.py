"""What the sinks that serve a live picture to viewers share (mjpeg, rtsp, webrtc).

- :func:`local_url`: the URL to dial the sink's listener at from this machine;
- :class:`MediaClock`: frame times on the 90 kHz clock, spaced as the frames' own times
  and anchored to this machine's clock;
- :class:`RecentRate`: the frame rate a viewer page shows (the last two seconds);
- :class:`ViewerMetrics`: the families every such sink publishes, named alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from dh_serverless.hookspecs.metrics import CounterCell, HistogramCell, Metrics

__all__ = ("ENCODE_BUCKETS", "MediaClock", "RecentRate", "ViewerMetrics", "local_url")

#: Bounds (seconds) of ``<prefix>_encode_seconds``: one frame decoded and encoded.
ENCODE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.5)
_EVERYWHERE = ("0.0.0.0", "", "::")


def local_url(scheme: str, host: str, port: int, path: str) -> str:
    """``scheme://host:port/path`` for a client on this machine: a listener on every
    interface is reached at ``127.0.0.1``; an IPv6 address is bracketed."""
    host = "127.0.0.1" if host in _EVERYWHERE else host
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}{path}"


class MediaClock:
    """Frame times on a media clock (90 kHz for video), always increasing.

    The frames' own times (capture or arrival, UNIX seconds) give their spacing; they are
    anchored to this machine's clock at the first frame and again whenever the two drift
    apart by more than ``reanchor`` seconds (a camera whose clock is off, or jumps).

    :param rate: ticks per second.
    :param reanchor: the drift (seconds) that anchors the frames' times afresh.
    """

    __slots__ = ("_anchor", "last", "rate", "reanchor", "wall0")

    def __init__(self, rate: int = 90_000, reanchor: float = 5.0) -> None:
        self.rate = rate
        self.reanchor = reanchor
        #: the UNIX time of tick 0
        self.wall0 = time.time()
        #: the latest time given (-1 before the first)
        self.last = -1
        self._anchor: tuple[float, float, int] | None = None

    def pts(self, source: float, now: float) -> int:
        """The time of a frame of source time ``source`` arriving at ``now`` (``time.time()``),
        one tick after the previous at least."""
        anchor = self._anchor
        if anchor is None or abs((source - anchor[0]) - (now - anchor[1])) > self.reanchor:
            anchor = self._anchor = (source, now, round((now - self.wall0) * self.rate))
        pts = max(anchor[2] + round((source - anchor[0]) * self.rate), self.last + 1)
        self.last = pts
        return pts


class RecentRate:
    """Frames per second over the last two seconds, from the times ``tick`` was called.

    Unlike the triggers' ``RateMeter`` (a gauge read at scrape time), it has a rate from
    the second frame on: what a viewer page polling every half second wants.
    """

    __slots__ = ("_times",)

    def __init__(self) -> None:
        self._times: list[float] = []

    def tick(self, now: float | None = None) -> None:
        """Count a frame at ``now`` (``time.monotonic()``, the default)."""
        times = self._times
        times.append(time.monotonic() if now is None else now)
        if len(times) > 120:
            del times[:60]

    def read(self) -> float:
        """Frames per second over the last two seconds (0 with fewer than two)."""
        now = time.monotonic()
        recent = [t for t in self._times if now - t <= 2.0]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-6)


class ViewerMetrics:
    """The families of a sink serving viewers, on the runtime's ``/metrics``, all labelled
    ``trigger``; each cell is looked up here, once, and updated as a plain object.

    ===========================================  =======================================
    ``<prefix>_viewers``                         viewers now (read at scrape time,
                                                 :meth:`watch_viewers`)
    ``<prefix>_frames_sent_total``               frames sent, one per frame per viewer
                                                 (with ``skip_reasons``)
    ``<prefix>_frames_skipped_total{reason}``    frames not sent, by ``skip_reasons``
    ``<prefix>_frames_encoded_total{codec}``     frames encoded (with ``codec``)
    ``<prefix>_encode_seconds``                  time to decode and encode one frame
                                                 (with ``codec``)
    ``<prefix>_sent_bytes_total``                bytes sent to every viewer (with
                                                 ``sent_bytes``)
    ===========================================  =======================================

    :param registry: the runtime's registry (``SinkSpec.metrics``).
    :param trigger: the trigger whose responses feed the sink (the ``trigger`` label).
    :param prefix: the families' prefix (``dh_webrtc``).
    :param viewers: what the viewers gauge counts (its help text).
    :param codec: the codec encoded to, for a sink that encodes.
    :param skip_reasons: why a frame is not sent to a viewer, for a sink that counts frames
        sent (``slow``, ...), with ``skipped``, the help text of the skipped family.
    :param sent_bytes: the help text of the bytes sent, for a sink that counts them.
    """

    def __init__(
        self,
        registry: Metrics,
        trigger: str,
        *,
        prefix: str,
        viewers: str,
        codec: str | None = None,
        skip_reasons: tuple[str, ...] = (),
        skipped: str = "Frames not sent, by reason",
        sent_bytes: str | None = None,
    ) -> None:
        labels = ("trigger",)
        self._viewers = registry.gauge(f"{prefix}_viewers", viewers, labels).labels(trigger)
        self.sent = CounterCell()
        self.skipped: dict[str, CounterCell] = {}
        self.encoded_frames = CounterCell()
        self.encode_time: HistogramCell | None = None
        self.sent_bytes = CounterCell()
        if skip_reasons:
            self.sent = registry.counter(
                f"{prefix}_frames_sent", "Frames sent to viewers (one per frame per viewer)", labels
            ).labels(trigger)
            family = registry.counter(f"{prefix}_frames_skipped", skipped, ("trigger", "reason"))
            self.skipped = {reason: family.labels(trigger, reason) for reason in skip_reasons}
        if codec is not None:
            self.encoded_frames = registry.counter(
                f"{prefix}_frames_encoded", "Frames encoded for the viewers", ("trigger", "codec")
            ).labels(trigger, codec)
            self.encode_time = registry.histogram(
                f"{prefix}_encode_seconds",
                "Time to decode and encode one frame",
                labels,
                buckets=ENCODE_BUCKETS,
            ).labels(trigger)
        if sent_bytes is not None:
            self.sent_bytes = registry.counter(f"{prefix}_sent_bytes", sent_bytes, labels).labels(
                trigger
            )

    def watch_viewers(self, count: Callable[[], int]) -> None:
        """Read the number of viewers from ``count()`` at scrape time."""
        self._viewers.set_function(lambda: float(count()))

    def frame_encoded(self, seconds: float) -> None:
        """One frame was encoded in ``seconds`` (a sink made with ``codec``)."""
        self.encoded_frames.value += 1
        if self.encode_time is not None:
            self.encode_time.observe(seconds)
