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

from dh_serverless.core.api import SourceLink, SourceMetrics
from dh_serverless.hookspecs import Metrics

__all__ = ("DROP_REASONS", "TriggerMetrics")

DROP_REASONS = ("sampled", "superseded", "failed", "corrupt")


class TriggerMetrics(SourceMetrics):
    """Cells of one trigger, created once at start-up from ``spec.metrics``: the core's
    source families, prefixed ``dh_rtsp_trigger``, and the audio and stall counters."""

    def __init__(self, registry: Metrics, trigger: str, link: SourceLink) -> None:
        p = "dh_rtsp_trigger_"
        super().__init__(
            registry, trigger, link, prefix=p[:-1], received="Frames decoded from the RTSP stream",
            events="events", reasons=DROP_REASONS,
        )  # fmt: skip
        d = self.dropped
        self.sampled, self.superseded = d["sampled"], d["superseded"]
        self.failed, self.corrupt = d["failed"], d["corrupt"]
        self.audio_seconds = registry.counter(
            p + "audio_seconds", "Seconds of audio decoded from the RTSP stream", ("trigger",)
        ).labels(trigger)
        self.trimmed = registry.counter(
            p + "audio_trimmed_bytes", "PCM bytes dropped from the rolling buffer", ("trigger",)
        ).labels(trigger)
        self.stalls = registry.counter(
            p + "stalls", "Connected streams that delivered nothing for readTimeout", ("trigger",)
        ).labels(trigger)
