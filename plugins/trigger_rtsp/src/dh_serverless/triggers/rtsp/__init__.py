"""dh-trigger-rtsp: hand an RTSP stream's audio or video frames to the handler.

Registered under the ``dh_serverless.triggers`` entry-point group as ``rtsp``.
"""

from __future__ import annotations

from dh_serverless.triggers.rtsp.config import RtspTriggerAttributes
from dh_serverless.triggers.rtsp.trigger import NDARRAY_CONTENT_TYPE, RtspTrigger
from dh_serverless.triggers.rtsp.version import __version__

__all__ = (
    "NDARRAY_CONTENT_TYPE",
    "RtspTrigger",
    "RtspTriggerAttributes",
    "__version__",
)
