"""The trigger's families on the runtime's ``/metrics``, and its cells kept for the hot path.

=====================================  =====================================================
``dh_mjpeg_frames_received_total``     frames cut from the stream
``dh_mjpeg_frames_processed_total``    frames the handler answered below 400
``dh_mjpeg_frames_dropped_total``      by ``reason``: ``sampled`` (processingFactor),
                                       ``superseded`` (a newer frame won a busy slot),
                                       ``failed`` (handler error or no worker),
                                       ``corrupt`` (broken JPEG), ``oversize`` (over the cap)
``dh_mjpeg_reconnects_total``          connections lost or refused, then retried
``dh_mjpeg_source_fps``                frames per second arriving from the source
``dh_mjpeg_connected``                 1 while a stream is being read
=====================================  =====================================================

Frame age at the sink (arrival to emission) is the core's ``dh_sink_age_seconds``.
"""

from __future__ import annotations

from dh_serverless.core.api import SourceLink, SourceMetrics
from dh_serverless.hookspecs import Metrics

__all__ = ("DROP_REASONS", "TriggerMetrics")

DROP_REASONS = ("sampled", "superseded", "failed", "corrupt", "oversize")


class TriggerMetrics(SourceMetrics):
    """Cells of one trigger, created once at start-up from ``spec.metrics``: the core's
    source families, prefixed ``dh_mjpeg``, each reason's cell an attribute."""

    def __init__(self, registry: Metrics, trigger: str, link: SourceLink) -> None:
        super().__init__(
            registry, trigger, link, prefix="dh_mjpeg",
            received="Frames cut from the MJPEG stream", reasons=DROP_REASONS,
        )  # fmt: skip
        d = self.dropped
        self.sampled, self.superseded, self.failed = d["sampled"], d["superseded"], d["failed"]
        self.corrupt, self.oversize = d["corrupt"], d["oversize"]
