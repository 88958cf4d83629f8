"""dh-trigger-mjpeg: process an MJPEG camera stream frame by frame."""

from __future__ import annotations

from dh_serverless.triggers.mjpeg.parser import Frame, MjpegParser, boundary_from_content_type
from dh_serverless.triggers.mjpeg.version import __version__

__all__ = ("Frame", "MjpegParser", "__version__", "boundary_from_content_type")
