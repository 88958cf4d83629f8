"""The sink's families on the runtime's ``/metrics`` (core extension point 1).

Cells are looked up once (at start, or when a viewer joins) and then updated as plain
objects on the hot path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ("SinkMetrics",)

_ENCODE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.5)


class _Nothing:
    """Stands in for a registry, family or cell when the runtime offers none."""

    def __getattr__(self, name: str) -> Any:
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self


class SinkMetrics:
    """Viewers, frames encoded, encode time, bytes sent and packets dropped per viewer.

    :param registry: the runtime's ``Metrics`` registry (``SinkSpec.metrics``) or None.
    :param trigger: the trigger whose responses feed this sink (the ``trigger`` label).
    """

    def __init__(self, registry: Any, trigger: str, codec: str) -> None:
        m = registry if registry is not None else _Nothing()
        labels = ("trigger",)
        self._viewers = m.gauge("dh_rtsp_viewers", "RTSP viewers playing", labels).labels(trigger)
        self._encoded = m.counter(
            "dh_rtsp_frames_encoded", "Frames encoded for RTSP viewers", ("trigger", "codec")
        ).labels(trigger, codec)
        self._encode_time = m.histogram(
            "dh_rtsp_encode_seconds",
            "Time to decode and encode one frame",
            labels,
            buckets=_ENCODE_BUCKETS,
        ).labels(trigger)
        self._bytes = m.counter(
            "dh_rtsp_sent_bytes", "RTP bytes sent to RTSP viewers", labels
        ).labels(trigger)
        self._dropped_family = m.counter(
            "dh_rtsp_dropped_packets",
            "RTP packets not sent to a viewer that lagged behind",
            ("trigger", "viewer"),
        )
        self._trigger = trigger

    def watch_viewers(self, count: Callable[[], int]) -> None:
        """Read the number of playing viewers at scrape time."""
        self._viewers.set_function(lambda: float(count()))

    def encoded(self, seconds: float) -> None:
        """One frame was encoded in ``seconds``."""
        self._encoded.inc()
        self._encode_time.observe(seconds)

    def sent(self, size: int) -> None:
        """``size`` bytes of RTP went to one viewer."""
        self._bytes.inc(size)

    def dropped_cell(self, viewer: str) -> Any:
        """The counter of packets dropped for ``viewer`` (look it up once per viewer)."""
        return self._dropped_family.labels(self._trigger, viewer)
