"""The ``attributes`` of a ``webrtc`` sink.

``function.yaml`` (inside a trigger's attributes)::

    sink:
      kind: webrtc
      attributes:
        port: 8889
        path: /processed
        codec: h264            # or vp8
        bitrate: 1500000
        maxViewers: 16
        iceServers:
          - urls: stun:stun.example.org:3478
          - urls: [turn:turn.example.org:3478?transport=udp]
            username: viewer
            credential: secret
        additionalHosts: [203.0.113.7]

Keys match ignoring case and underscores. ``viewerTimeout`` is a Go duration or seconds.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import attrs

from dh_serverless.core.api import Duration, validators

__all__ = ("IceServer", "WebRtcSinkAttributes")

_ICE_SCHEMES = ("stun:", "stuns:", "turn:", "turns:")


def _lower(value: str) -> str:
    return str(value).lower()


def _no_trailing_slash(_: Any, __: attrs.Attribute[str], value: str) -> None:
    if value != "/" and value.endswith("/"):
        raise ValueError(f"path must not end with / (the page is <path>/), got {value!r}")


def _urls(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError(f"urls must be a URL or a list of URLs, got {value!r}")


def _check_urls(_: Any, __: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    if not value:
        raise ValueError("urls must name at least one stun:, turn: or turns: URL")
    for url in value:
        if not url.lower().startswith(_ICE_SCHEMES) or len(url.split(":", 1)[1]) == 0:
            raise ValueError(f"ICE server URL must start with stun:, turn: or turns:, got {url!r}")


def _hosts(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise ValueError(f"additionalHosts must be a list of IP addresses, got {value!r}")


def _check_hosts(_: Any, __: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    for host in value:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(f"additionalHosts takes IP addresses, got {host!r}") from None


@attrs.frozen
class IceServer:
    """One entry of ``iceServers``, as a browser's ``RTCIceServer``.

    :param urls: ``stun:``, ``turn:`` or ``turns:`` URLs (one, or a list).
    :param username: the TURN user name.
    :param credential: the TURN password.
    """

    urls: Any = attrs.field(converter=_urls, validator=_check_urls)
    username: str | None = None
    credential: str | None = attrs.field(default=None, repr=False)


def _ice_servers(value: Any) -> tuple[IceServer, ...]:
    return tuple(value)


@attrs.frozen
class WebRtcSinkAttributes:
    """``attributes`` of a ``webrtc`` sink.

    :param port: the HTTP port of the WHEP endpoint and the viewer page (``0``: a free one).
        Media flows over UDP on ports picked per viewer.
    :param host: the address to listen on. A specific address (``127.0.0.1``) also limits
        the ICE candidates to it; ``0.0.0.0`` offers every interface's address.
    :param path: the stream's path: the viewer page is ``<path>/``, WHEP ``<path>/whep``.
    :param codec: ``h264`` (libx264, constrained baseline) or ``vp8`` (libvpx).
    :param bitrate: the encoder's target, bits per second.
    :param fps: the expected frame rate: the encoder's rate control and keyframe interval
        (two seconds). Frame times always follow the frames' own timestamps.
    :param max_viewers: viewers at once; another offer is answered 503.
    :param ice_servers: STUN and TURN servers, used by the sink and announced to WHEP
        clients (``Link`` headers) and the viewer page.
    :param additional_hosts: more IP addresses to announce as host candidates (a public
        address mapped one to one onto this machine's, as in Docker or behind a NAT).
    :param viewer_timeout: a viewer that sends no RTCP report for this long, or whose ICE
        does not connect within it, is closed.
    :param allow_origin: the ``Access-Control-Allow-Origin`` of the WHEP endpoint.
    """

    port: int = attrs.field(default=8889, validator=validators.port())
    host: str = "0.0.0.0"
    path: str = attrs.field(default="/processed", validator=[validators.path(), _no_trailing_slash])
    codec: str = attrs.field(
        default="h264", converter=_lower, validator=validators.one_of(("h264", "vp8"))
    )
    bitrate: int = attrs.field(
        default=1_500_000, validator=validators.between(50_000, 50_000_000, "bitrate")
    )
    fps: int = attrs.field(default=30, validator=validators.between(1, 240, "fps"))
    max_viewers: int = attrs.field(default=16, validator=validators.between(1, 1024, "maxViewers"))
    ice_servers: tuple[IceServer, ...] = attrs.field(default=(), converter=_ice_servers)
    additional_hosts: Any = attrs.field(default=(), converter=_hosts, validator=_check_hosts)
    viewer_timeout: Duration = attrs.field(
        default=Duration(10.0), validator=validators.between(1, 3600, "viewerTimeout")
    )
    allow_origin: str = "*"
