"""The sink's families on the runtime's ``/metrics`` (``SinkSpec.metrics``).

Cells are looked up once (at start, or when a viewer joins) and then updated as plain
objects on the hot path. A viewer's own cell is removed when it leaves, so the label
values stay bounded by the viewers present; the per-sink totals keep counting.
"""

from __future__ import annotations

from collections.abc import Callable

from dh_serverless.hookspecs.metrics import CounterCell, Metrics

__all__ = ("SinkMetrics",)

_ENCODE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.5)


class _ViewerDrops:
    """Adds to a viewer's cell and to the sink's total at once."""

    __slots__ = ("cell", "total")

    def __init__(self, cell: CounterCell, total: CounterCell) -> None:
        self.cell = cell
        self.total = total

    def inc(self, amount: float = 1) -> None:
        self.cell.value += amount
        self.total.value += amount


class SinkMetrics:
    """Viewers, frames encoded, encode time, bytes sent and packets dropped (per viewer).

    :param registry: the runtime's registry (``SinkSpec.metrics``).
    :param trigger: the trigger whose responses feed this sink (the ``trigger`` label).
    """

    def __init__(self, registry: Metrics, trigger: str, codec: str) -> None:
        labels = ("trigger",)
        self._trigger = trigger
        self._viewers = registry.gauge("dh_rtsp_viewers", "RTSP viewers playing", labels).labels(
            trigger
        )
        self._encoded = registry.counter(
            "dh_rtsp_frames_encoded", "Frames encoded for RTSP viewers", ("trigger", "codec")
        ).labels(trigger, codec)
        self._encode_time = registry.histogram(
            "dh_rtsp_encode_seconds",
            "Time to decode and encode one frame for RTSP",
            labels,
            buckets=_ENCODE_BUCKETS,
        ).labels(trigger)
        self._bytes = registry.counter(
            "dh_rtsp_sent_bytes", "RTP bytes sent to RTSP viewers (all viewers)", labels
        ).labels(trigger)
        self._dropped = registry.counter(
            "dh_rtsp_dropped_packets",
            "RTP packets skipped for RTSP viewers that lagged behind (all viewers)",
            labels,
        ).labels(trigger)
        self._per_viewer = registry.counter(
            "dh_rtsp_viewer_dropped_packets",
            "RTP packets skipped for one RTSP viewer that lagged behind (while it watches)",
            ("trigger", "viewer"),
        )

    def watch_viewers(self, count: Callable[[], int]) -> None:
        """Read the number of playing viewers at scrape time."""
        self._viewers.set_function(lambda: float(count()))

    def encoded(self, seconds: float) -> None:
        """One frame was encoded in ``seconds``."""
        self._encoded.value += 1
        self._encode_time.observe(seconds)

    def sent(self, size: int) -> None:
        """``size`` bytes of RTP went to one viewer."""
        self._bytes.value += size

    def viewer_joined(self, viewer: str) -> _ViewerDrops:
        """The counter of packets dropped for ``viewer``; keep it while it watches."""
        return _ViewerDrops(self._per_viewer.labels(self._trigger, viewer), self._dropped)

    def viewer_left(self, viewer: str) -> None:
        """Forget ``viewer``'s own cell."""
        self._per_viewer.remove(self._trigger, viewer)
