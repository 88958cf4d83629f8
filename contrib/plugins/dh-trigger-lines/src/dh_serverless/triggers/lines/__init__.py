"""dh-trigger-lines: each line sent over TCP is an event, answered by one line."""

from __future__ import annotations

from dh_serverless.triggers.lines.trigger import LinesAttributes, LinesTrigger
from dh_serverless.triggers.lines.version import __version__

__all__ = ("LinesAttributes", "LinesTrigger", "__version__")
