"""The sink's families on the runtime's ``/metrics`` (``SinkSpec.metrics``).

Cells are looked up once (at start, or when a viewer joins) and then updated as plain
objects on the hot path. A viewer's own cell is removed when it leaves, so the label
values stay bounded by the viewers present; the per-sink totals keep counting.
"""

from __future__ import annotations

from dh_serverless.core.api import ViewerMetrics
from dh_serverless.hookspecs.metrics import CounterCell, Metrics

__all__ = ("SinkMetrics",)


class _ViewerDrops:
    """Adds to a viewer's cell and to the sink's total at once."""

    __slots__ = ("cell", "total")

    def __init__(self, cell: CounterCell, total: CounterCell) -> None:
        self.cell = cell
        self.total = total

    def inc(self, amount: float = 1) -> None:
        self.cell.value += amount
        self.total.value += amount


class SinkMetrics(ViewerMetrics):
    """The core's viewer families (``dh_rtsp_viewers``, ``dh_rtsp_frames_encoded_total``,
    ``dh_rtsp_encode_seconds``, ``dh_rtsp_sent_bytes_total``: RTP bytes) and packets
    dropped for viewers that lag behind, in all and per viewer.

    :param registry: the runtime's registry (``SinkSpec.metrics``).
    :param trigger: the trigger whose responses feed this sink (the ``trigger`` label).
    :param codec: ``h264``, ``jpeg`` or ``l16`` (the ``codec`` label of frames encoded).
    """

    def __init__(self, registry: Metrics, trigger: str, codec: str) -> None:
        super().__init__(
            registry, trigger, prefix="dh_rtsp", viewers="RTSP viewers playing", codec=codec,
            sent_bytes="RTP bytes sent to RTSP viewers (all viewers)",
        )  # fmt: skip
        self._trigger = trigger
        self._dropped = registry.counter(
            "dh_rtsp_dropped_packets",
            "RTP packets skipped for RTSP viewers that lagged behind (all viewers)",
            ("trigger",),
        ).labels(trigger)
        self._per_viewer = registry.counter(
            "dh_rtsp_viewer_dropped_packets",
            "RTP packets skipped for one RTSP viewer that lagged behind (while it watches)",
            ("trigger", "viewer"),
        )

    def viewer_joined(self, viewer: str) -> _ViewerDrops:
        """The counter of packets dropped for ``viewer``; keep it while it watches."""
        return _ViewerDrops(self._per_viewer.labels(self._trigger, viewer), self._dropped)

    def viewer_left(self, viewer: str) -> None:
        """Forget ``viewer``'s own cell."""
        self._per_viewer.remove(self._trigger, viewer)
