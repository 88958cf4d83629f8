"""The ``attributes`` of a ``websocket`` sink.

Client mode, as the original's ``function.yaml`` writes it (dial a WebSocket server)::

    sink:
      kind: websocket
      attributes:
        url: ws://localhost:9090/frames
        messageType: binary
        timeout: 10

Server mode (clients connect to ``ws://<host>:<port><path>``)::

    sink:
      kind: websocket
      attributes:
        port: 8765
        path: /stream

Without ``mode``, a ``url`` means client mode and no ``url`` server mode. Keys match
ignoring case and underscores; durations are seconds (``10``) or Go durations (``"500ms"``).
"""

from __future__ import annotations

import attrs

from dh_serverless.core.api import Duration, validators

__all__ = ("MESSAGE_TYPES", "MODES", "WebsocketAttributes")

MODES = ("server", "client")
#: ``auto``: text for a text or JSON content type whose body is UTF-8, binary otherwise.
MESSAGE_TYPES = ("auto", "binary", "text")


def _lower(value: str | None) -> str | None:
    return None if value is None else value.strip().lower()


@attrs.frozen
class WebsocketAttributes:
    """``attributes`` of a ``websocket`` sink.

    :param mode: ``server`` or ``client``; unset: ``client`` when ``url`` is given.
    :param url: client mode: the WebSocket server to send results to (``ws://``, ``wss://``).
    :param message_type: ``auto`` (text for a text or JSON result, binary otherwise),
        ``binary`` or ``text``.
    :param timeout: client mode: seconds the opening handshake and one send may take; a
        send that takes longer closes the connection, which is then dialled again.
    :param headers: client mode: extra handshake headers (``Authorization``, ...).
    :param reconnect_delay: client mode: seconds before dialling again after a failure;
        doubled on each failure up to ``max_reconnect_delay``, reset once connected.
    :param max_reconnect_delay: client mode: the longest wait between two dials.
    :param host: server mode: the address to listen on.
    :param port: server mode: the TCP port (``0``: any free port).
    :param path: server mode: the path clients connect to; other paths get 404.
    :param client_queue_size: server mode: messages waiting for one client; when it is
        full the client's oldest message is dropped, so a slow client loses messages and
        never slows the others.
    :param max_clients: server mode: clients at once; one more is answered 503.
    :param heartbeat: seconds between pings that detect dead peers (``0``: none).
    :param send_metadata: send a JSON text message with the event's metadata (frame
        number, timestamp, source, event id, content type, size) before each result.
    """

    mode: str | None = attrs.field(
        default=None, converter=_lower, validator=validators.one_of(MODES, optional=True)
    )
    url: str | None = attrs.field(
        default=None, validator=validators.url(("ws", "wss", "http", "https"), optional=True)
    )
    message_type: str = attrs.field(
        default="auto", converter=_lower, validator=validators.one_of(MESSAGE_TYPES, "messageType")
    )
    timeout: Duration = attrs.field(
        default=Duration(10.0), validator=validators.at_least(0.001, "timeout")
    )
    headers: dict[str, str] = attrs.field(factory=dict, validator=validators.header_names())
    reconnect_delay: Duration = attrs.field(
        default=Duration(1.0), validator=validators.at_least(0.01, "reconnectDelay")
    )
    max_reconnect_delay: Duration = attrs.field(
        default=Duration(30.0), validator=validators.at_least(0.01, "maxReconnectDelay")
    )
    host: str = "0.0.0.0"
    port: int = attrs.field(default=8765, validator=validators.port())
    path: str = attrs.field(default="/stream", validator=validators.path())
    client_queue_size: int = attrs.field(
        default=8, validator=validators.at_least(1, "clientQueueSize")
    )
    max_clients: int = attrs.field(default=100, validator=validators.at_least(1, "maxClients"))
    heartbeat: Duration = attrs.field(
        default=Duration(30.0), validator=validators.at_least(0, "heartbeat")
    )
    send_metadata: bool = False

    def __attrs_post_init__(self) -> None:
        if self.mode == "client" and self.url is None:
            raise ValueError("url: required in client mode (the WebSocket server to dial)")
        if self.mode == "server" and self.url is not None:
            raise ValueError(
                "url: only for client mode; in server mode clients connect to host, port, path"
            )

    @property
    def client_mode(self) -> bool:
        """Whether the sink dials ``url`` rather than serving clients."""
        return self.mode == "client" or (self.mode is None and self.url is not None)
