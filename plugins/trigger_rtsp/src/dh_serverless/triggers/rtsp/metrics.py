"""The trigger's families on the runtime's ``/metrics``, and its cells kept for the hot path.

The names follow the mjpeg trigger's, with the prefix ``dh_rtsp_trigger_`` (the rtsp
sink owns ``dh_rtsp_``):

==========================================  ================================================
``dh_rtsp_trigger_frames_received_total``   frames decoded from the stream (video frames,
                                            or audio frames of the codec)
``dh_rtsp_trigger_audio_seconds_total``     seconds of audio decoded
``dh_rtsp_trigger_events_processed_total``  events the handler answered below 400
``dh_rtsp_trigger_events_dropped_total``    by ``reason``: ``sampled`` (a newer frame came
                                            before the interval), ``superseded`` (workers
                                            busy), ``failed`` (handler error or no worker),
                                            ``corrupt`` (undecodable data)
``dh_rtsp_trigger_audio_trimmed_bytes_total``  PCM dropped from the front of the buffer
``dh_rtsp_trigger_reconnects_total``        connections lost or refused, then retried
``dh_rtsp_trigger_stalls_total``            connected streams that went silent (readTimeout)
``dh_rtsp_trigger_source_fps``              frames per second arriving from the source
``dh_rtsp_trigger_connected``               1 while a stream is being read
==========================================  ================================================
"""

from __future__ import annotations

from collections.abc import Callable

from dh_serverless.hookspecs import Metrics
from dh_serverless.hookspecs.metrics import RateMeter

__all__ = ("DROP_REASONS", "TriggerMetrics")

DROP_REASONS = ("sampled", "superseded", "failed", "corrupt")


class TriggerMetrics:
    """Cells of one trigger, created once at start-up from ``spec.metrics``."""

    def __init__(
        self, registry: Metrics, trigger: str, fps: RateMeter, connected: Callable[[], float]
    ) -> None:
        p = "dh_rtsp_trigger_"
        received = registry.counter(
            p + "frames_received", "Frames decoded from the RTSP stream", ("trigger",)
        )
        seconds = registry.counter(
            p + "audio_seconds", "Seconds of audio decoded from the RTSP stream", ("trigger",)
        )
        processed = registry.counter(
            p + "events_processed", "Events the handler answered below 400", ("trigger",)
        )
        dropped = registry.counter(
            p + "events_dropped", "Frames or events not handled, by reason", ("trigger", "reason")
        )
        trimmed = registry.counter(
            p + "audio_trimmed_bytes", "PCM bytes dropped from the rolling buffer", ("trigger",)
        )
        reconnects = registry.counter(
            p + "reconnects", "Source connections lost or refused, then retried", ("trigger",)
        )
        stalls = registry.counter(
            p + "stalls", "Connected streams that delivered nothing for readTimeout", ("trigger",)
        )
        self.received = received.labels(trigger)
        self.audio_seconds = seconds.labels(trigger)
        self.processed = processed.labels(trigger)
        self.sampled = dropped.labels(trigger, "sampled")
        self.superseded = dropped.labels(trigger, "superseded")
        self.failed = dropped.labels(trigger, "failed")
        self.corrupt = dropped.labels(trigger, "corrupt")
        self.trimmed = trimmed.labels(trigger)
        self.reconnects = reconnects.labels(trigger)
        self.stalls = stalls.labels(trigger)
        registry.gauge(
            p + "source_fps", "Frames per second arriving from the source", ("trigger",)
        ).labels(trigger).set_function(fps.read)
        registry.gauge(
            p + "connected", "1 while the source stream is being read", ("trigger",)
        ).labels(trigger).set_function(connected)
