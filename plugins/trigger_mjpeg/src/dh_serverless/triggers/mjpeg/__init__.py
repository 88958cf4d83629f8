"""dh-trigger-mjpeg: process an MJPEG camera stream frame by frame.

Registered under the ``dh_serverless.triggers`` entry-point group as ``mjpeg``.
"""

from __future__ import annotations

from dh_serverless.triggers.mjpeg.config import MjpegAttributes
from dh_serverless.triggers.mjpeg.parser import Frame, MjpegParser, boundary_from_content_type
from dh_serverless.triggers.mjpeg.trigger import MjpegTrigger
from dh_serverless.triggers.mjpeg.version import __version__

__all__ = (
    "Frame",
    "MjpegAttributes",
    "MjpegParser",
    "MjpegTrigger",
    "__version__",
    "boundary_from_content_type",
)
