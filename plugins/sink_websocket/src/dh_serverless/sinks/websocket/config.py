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

import re
from typing import Any

import attrs
from yarl import URL

from dh_serverless.core.config import Duration

__all__ = ("MESSAGE_TYPES", "MODES", "WebsocketAttributes")

MODES = ("server", "client")
#: ``auto``: text for a text or JSON content type whose body is UTF-8, binary otherwise.
MESSAGE_TYPES = ("auto", "binary", "text")
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def _lower(value: str | None) -> str | None:
    return None if value is None else value.strip().lower()


def _one_of(key: str, choices: tuple[str, ...]) -> Any:
    def check(_: Any, __: attrs.Attribute[str | None], value: str | None) -> None:
        if value is not None and value not in choices:
            raise ValueError(f"{key}: expected one of {', '.join(choices)}, got {value!r}")

    return check


def _at_least(key: str, low: float) -> Any:
    def check(_: Any, __: attrs.Attribute[float], value: float) -> None:
        if value < low:
            raise ValueError(f"{key}: must be at least {low:g}, got {value:g}")

    return check


def _check_port(_: Any, __: attrs.Attribute[int], value: int) -> None:
    if not 0 <= value <= 65535:
        raise ValueError(f"port: must be between 1 and 65535 (0: any free port), got {value}")


def _check_path(_: Any, __: attrs.Attribute[str], value: str) -> None:
    if not value.startswith("/") or any(c in value for c in " ?#\r\n"):
        raise ValueError(f"path: expected an absolute path such as /stream, got {value!r}")


def _check_headers(_: Any, __: attrs.Attribute[dict[str, str]], value: dict[str, str]) -> None:
    for name, text in value.items():
        if not _TOKEN.match(name):
            raise ValueError(f"headers: not a header name: {name!r}")
        if "\r" in text or "\n" in text:
            raise ValueError(f"headers.{name}: a header value cannot contain a line break")


def _check_url(_: Any, __: attrs.Attribute[str | None], value: str | None) -> None:
    if value is None:
        return
    try:
        url = URL(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"url: not a URL: {value!r} ({exc})") from None
    if url.scheme not in ("ws", "wss", "http", "https") or not url.host:
        raise ValueError(f"url: expected ws://host[:port]/path or wss://..., got {value!r}")


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

    mode: str | None = attrs.field(default=None, converter=_lower, validator=_one_of("mode", MODES))
    url: str | None = attrs.field(default=None, validator=_check_url)
    message_type: str = attrs.field(
        default="auto", converter=_lower, validator=_one_of("messageType", MESSAGE_TYPES)
    )
    timeout: Duration = attrs.field(default=Duration(10.0), validator=_at_least("timeout", 0.001))
    headers: dict[str, str] = attrs.field(factory=dict, validator=_check_headers)
    reconnect_delay: Duration = attrs.field(
        default=Duration(1.0), validator=_at_least("reconnectDelay", 0.01)
    )
    max_reconnect_delay: Duration = attrs.field(
        default=Duration(30.0), validator=_at_least("maxReconnectDelay", 0.01)
    )
    host: str = "0.0.0.0"
    port: int = attrs.field(default=8765, validator=_check_port)
    path: str = attrs.field(default="/stream", validator=_check_path)
    client_queue_size: int = attrs.field(default=8, validator=_at_least("clientQueueSize", 1))
    max_clients: int = attrs.field(default=100, validator=_at_least("maxClients", 1))
    heartbeat: Duration = attrs.field(default=Duration(30.0), validator=_at_least("heartbeat", 0))
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
