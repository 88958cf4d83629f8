"""dh-sink-webrtc: serve a function's processed frames to browsers over WebRTC (WHEP).

Registered under the ``dh_serverless.sinks`` entry-point group as ``webrtc``. Frames
(JPEG bytes, or ``HxWx3`` uint8 arrays) are encoded once each, as H.264 or VP8, and the
same packets go to every viewer (aiortc); viewers connect with WHEP (RFC 9725).
"""

from __future__ import annotations

from dh_serverless.sinks.webrtc.config import IceServer, WebRtcSinkAttributes
from dh_serverless.sinks.webrtc.sink import WebRtcSink
from dh_serverless.sinks.webrtc.version import __version__

__all__ = ("IceServer", "WebRtcSink", "WebRtcSinkAttributes", "__version__")
