"""``websocket_addr``: the address to listen on, in Go's ``net.Listen`` form.

``:9001`` (every interface), ``0.0.0.0:9001``, ``127.0.0.1:9001``, ``localhost:9001``,
``[::1]:9001``. Port ``0`` takes any free port (tests).
"""

from __future__ import annotations

import ipaddress
import re

import attrs

__all__ = ("ListenAddress", "parse_listen_address")

_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


@attrs.frozen
class ListenAddress:
    """A parsed ``websocket_addr``: ``host`` is ``None`` for every interface."""

    host: str | None
    port: int

    def url(self, path: str = "/ws") -> str:
        """``ws://host:port/path`` a client on this machine can dial (``127.0.0.1`` for
        every interface)."""
        host = self.host or "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"ws://{host}:{self.port}{path}"


def parse_listen_address(text: str) -> ListenAddress:
    """Parse ``host:port`` as Go's ``net.Listen("tcp", ...)`` takes it.

    :raises ValueError: with a message that shows the accepted forms.
    """
    if not isinstance(text, str):
        raise ValueError(f"expected host:port such as ':9001', got {text!r}")
    value = text.strip()
    host, sep, port_text = value.rpartition(":")
    if not sep:
        raise ValueError(
            f"expected host:port such as ':9001' or '127.0.0.1:9001', got {text!r} (no port)"
        )
    if not port_text.isascii() or not port_text.isdigit() or len(port_text) > 5:
        raise ValueError(f"the port of {text!r} must be a number from 0 to 65535")
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"the port of {text!r} must be a number from 0 to 65535")
    if host.startswith("[") and host.endswith("]"):
        inner = host[1:-1]
        try:
            ipaddress.IPv6Address(inner)
        except ValueError:
            raise ValueError(f"{host!r} in {text!r} is not an IPv6 address") from None
        return ListenAddress(inner, port)
    if not host:
        return ListenAddress(None, port)
    if ":" in host:
        raise ValueError(f"an IPv6 host needs brackets: '[{host}]:{port}', got {text!r}")
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        if not _HOSTNAME.match(host):
            raise ValueError(f"{host!r} in {text!r} is not a host name or address") from None
    return ListenAddress(host, port)
