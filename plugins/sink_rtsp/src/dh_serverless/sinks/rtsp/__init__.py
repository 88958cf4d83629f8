"""dh-sink-rtsp: serve a function's processed frames as a live RTSP stream.

Registered under the ``dh_serverless.sinks`` entry-point group as ``rtsp``. Frames
(JPEG bytes, or ``HxWx3`` uint8 arrays) are sent as H.264 (PyAV's libx264, RFC 6184)
or JPEG (RFC 2435) over RTP, interleaved on the RTSP connection or over UDP.
"""

from __future__ import annotations

from dh_serverless.sinks.rtsp.config import AuthConfig, RtspAttributes
from dh_serverless.sinks.rtsp.sink import RtspSink
from dh_serverless.sinks.rtsp.version import __version__

__all__ = ("AuthConfig", "RtspAttributes", "RtspSink", "__version__")
