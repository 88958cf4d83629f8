"""dh-trigger-websocket: the original's ``websocket`` input trigger.

Clients connect to ``ws://<websocket_addr>/ws``; in discrete mode a client's latest
message is handed to the handler every ``processing_interval``, in stream mode its binary
messages fill a rolling buffer handed over whole once ``chunk_bytes`` new bytes arrived.
The handler's answer goes back to that client as a text message.

Registered under the ``dh_serverless.triggers`` entry-point group as ``websocket``; the
core registers this module's hook implementations (``dh_register_converters``).
"""

from __future__ import annotations

from dh_serverless.triggers.websocket.address import ListenAddress, parse_listen_address
from dh_serverless.triggers.websocket.config import WebsocketTriggerAttributes
from dh_serverless.triggers.websocket.trigger import PATH, WebsocketTrigger, dh_register_converters
from dh_serverless.triggers.websocket.version import __version__

__all__ = (
    "PATH",
    "ListenAddress",
    "WebsocketTrigger",
    "WebsocketTriggerAttributes",
    "__version__",
    "dh_register_converters",
    "parse_listen_address",
)
