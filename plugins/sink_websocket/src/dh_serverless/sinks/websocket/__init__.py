"""dh-sink-websocket: send each result of a trigger over WebSocket.

Registered under the ``dh_serverless.sinks`` entry-point group as ``websocket``.
"""

from __future__ import annotations

from dh_serverless.sinks.websocket.config import WebsocketAttributes
from dh_serverless.sinks.websocket.sink import WebsocketSink
from dh_serverless.sinks.websocket.version import __version__

__all__ = ("WebsocketAttributes", "WebsocketSink", "__version__")
