"""The sink's families on the runtime's ``/metrics`` (``SinkSpec.metrics``).

Cells are looked up once, at construction, and updated as plain objects on the hot path.
"""

from __future__ import annotations

from collections.abc import Callable

from dh_serverless.hookspecs.metrics import Metrics

__all__ = ("SinkMetrics",)

_ENCODE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.5)


class SinkMetrics:
    """Viewers, frames encoded, sent and skipped, encode time, WHEP sessions and their ends.

    :param registry: the runtime's registry (``SinkSpec.metrics``).
    :param trigger: the trigger whose responses feed this sink (the ``trigger`` label).
    :param codec: ``h264`` or ``vp8`` (the ``codec`` label of frames encoded).
    """

    def __init__(self, registry: Metrics, trigger: str, codec: str) -> None:
        labels = ("trigger",)
        self._viewers = registry.gauge(
            "dh_webrtc_viewers", "WebRTC viewers connected or connecting", labels
        ).labels(trigger)
        self.encoded_frames = registry.counter(
            "dh_webrtc_frames_encoded", "Frames encoded once for every WebRTC viewer",
            ("trigger", "codec"),
        ).labels(trigger, codec)  # fmt: skip
        self.encode_time = registry.histogram(
            "dh_webrtc_encode_seconds",
            "Time to decode and encode one frame for the WebRTC viewers",
            labels,
            buckets=_ENCODE_BUCKETS,
        ).labels(trigger)
        self.sent = registry.counter(
            "dh_webrtc_frames_sent", "Frames sent to WebRTC viewers (one per frame per viewer)",
            labels,
        ).labels(trigger)  # fmt: skip
        self.sent_bytes = registry.counter(
            "dh_webrtc_sent_bytes",
            "Encoded video bytes sent to WebRTC viewers (all viewers; RTP and SRTP headers aside)",
            labels,
        ).labels(trigger)
        skipped = registry.counter(
            "dh_webrtc_frames_skipped",
            "Frames not sent: slow (a viewer fell behind or waits for a key frame), "
            "not_frame (the body is neither JPEG nor an HxWx3 array)",
            ("trigger", "reason"),
        )
        self.skipped_slow = skipped.labels(trigger, "slow")
        self.skipped_not_frame = skipped.labels(trigger, "not_frame")
        sessions = registry.counter(
            "dh_webrtc_sessions",
            "WHEP offers: created, full (503), bad_offer (400)",
            ("trigger", "outcome"),
        )
        self.created = sessions.labels(trigger, "created")
        self.full = sessions.labels(trigger, "full")
        self.bad_offer = sessions.labels(trigger, "bad_offer")
        closed = registry.counter(
            "dh_webrtc_sessions_closed",
            "WHEP sessions ended: deleted (DELETE), failed (ICE failed or the viewer went "
            "silent), shutdown",
            ("trigger", "reason"),
        )
        self._closed = {
            reason: closed.labels(trigger, reason) for reason in ("deleted", "failed", "shutdown")
        }

    def watch_viewers(self, count: Callable[[], int]) -> None:
        """Read the number of viewers at scrape time."""
        self._viewers.set_function(lambda: float(count()))

    def closed(self, reason: str) -> None:
        """One session ended for ``reason`` (``deleted``, ``failed``, ``shutdown``)."""
        self._closed[reason].inc()
