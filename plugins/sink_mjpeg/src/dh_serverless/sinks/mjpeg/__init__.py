"""dh-sink-mjpeg: re-stream processed frames as MJPEG to browsers and players.

Registered under the ``dh_serverless.sinks`` entry-point group as ``mjpeg``.
"""

from __future__ import annotations

from dh_serverless.sinks.mjpeg.config import MjpegSinkAttributes
from dh_serverless.sinks.mjpeg.sink import MjpegSink
from dh_serverless.sinks.mjpeg.version import __version__

__all__ = ("MjpegSink", "MjpegSinkAttributes", "__version__")
