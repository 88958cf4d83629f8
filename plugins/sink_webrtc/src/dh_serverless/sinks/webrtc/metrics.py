"""The sink's families on the runtime's ``/metrics`` (``SinkSpec.metrics``).

Cells are looked up once, at construction, and updated as plain objects on the hot path.
"""

from __future__ import annotations

from dh_serverless.core.api import ViewerMetrics
from dh_serverless.hookspecs.metrics import Metrics

__all__ = ("SinkMetrics",)


class SinkMetrics(ViewerMetrics):
    """The core's viewer families (``dh_webrtc_viewers``, ``dh_webrtc_frames_encoded_total``,
    ``dh_webrtc_encode_seconds``, ``dh_webrtc_frames_sent_total``,
    ``dh_webrtc_frames_skipped_total{reason}``, ``dh_webrtc_sent_bytes_total``), WHEP
    sessions and their ends.

    :param registry: the runtime's registry (``SinkSpec.metrics``).
    :param trigger: the trigger whose responses feed this sink (the ``trigger`` label).
    :param codec: ``h264`` or ``vp8`` (the ``codec`` label of frames encoded).
    """

    def __init__(self, registry: Metrics, trigger: str, codec: str) -> None:
        super().__init__(
            registry, trigger, prefix="dh_webrtc", viewers="WebRTC viewers connected or connecting",
            codec=codec, skip_reasons=("slow", "not_frame"),
            skipped="Frames not sent: slow (a viewer fell behind or waits for a key frame), "
            "not_frame (the body is neither JPEG nor an HxWx3 array)",
            sent_bytes="Encoded video bytes sent to WebRTC viewers (all viewers; RTP and SRTP "
            "headers aside)",
        )  # fmt: skip
        self.skipped_slow = self.skipped["slow"]
        self.skipped_not_frame = self.skipped["not_frame"]
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

    def closed(self, reason: str) -> None:
        """One session ended for ``reason`` (``deleted``, ``failed``, ``shutdown``)."""
        self._closed[reason].inc()
