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

from collections.abc import Callable

from dh_serverless.hookspecs import Metrics
from dh_serverless.hookspecs.metrics import RateMeter

__all__ = ("DROP_REASONS", "TriggerMetrics")

DROP_REASONS = ("sampled", "superseded", "failed", "corrupt", "oversize")


class TriggerMetrics:
    """Cells of one trigger, created once at start-up from ``spec.metrics``."""

    def __init__(
        self, registry: Metrics, trigger: str, fps: RateMeter, connected: Callable[[], float]
    ) -> None:
        received = registry.counter(
            "dh_mjpeg_frames_received", "Frames cut from the MJPEG stream", ("trigger",)
        )
        processed = registry.counter(
            "dh_mjpeg_frames_processed", "Frames the handler answered below 400", ("trigger",)
        )
        dropped = registry.counter(
            "dh_mjpeg_frames_dropped", "Frames not handled, by reason", ("trigger", "reason")
        )
        reconnects = registry.counter(
            "dh_mjpeg_reconnects", "Source connections lost or refused, then retried", ("trigger",)
        )
        self.received = received.labels(trigger)
        self.processed = processed.labels(trigger)
        self.sampled = dropped.labels(trigger, "sampled")
        self.superseded = dropped.labels(trigger, "superseded")
        self.failed = dropped.labels(trigger, "failed")
        self.corrupt = dropped.labels(trigger, "corrupt")
        self.oversize = dropped.labels(trigger, "oversize")
        self.reconnects = reconnects.labels(trigger)
        registry.gauge(
            "dh_mjpeg_source_fps", "Frames per second arriving from the source", ("trigger",)
        ).labels(trigger).set_function(fps.read)
        registry.gauge(
            "dh_mjpeg_connected", "1 while the source stream is being read", ("trigger",)
        ).labels(trigger).set_function(connected)
