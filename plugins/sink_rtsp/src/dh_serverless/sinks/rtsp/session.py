"""One viewer's RTSP session: its transport (TCP-interleaved or a UDP port pair) and counters."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable
from typing import Any

import attrs

from dh_serverless.sinks.rtsp.rtp import interleave

__all__ = ("TransportChoice", "UdpPair", "Viewer", "bind_udp_pair", "choose_transport")


@attrs.frozen
class TransportChoice:
    """What a client's ``Transport`` header asked for and we accept."""

    tcp: bool
    channels: tuple[int, int] = (0, 1)  #: interleaved RTP and RTCP channels (TCP)
    client_ports: tuple[int, int] = (0, 0)  #: the client's RTP and RTCP ports (UDP)


def _pair(value: str) -> tuple[int, int] | None:
    first, _, second = value.partition("-")
    if not first.isdigit() or not first.isascii() or (second and not second.isdigit()):
        return None
    a = int(first)
    b = int(second) if second and second.isascii() else a + 1
    return (a, b) if 0 <= a <= 65535 and 0 <= b <= 65535 else None


def choose_transport(header: str, free_channel: int) -> TransportChoice | None:
    """The first unicast RTP/AVP transport in ``header`` we can serve, or None (461).

    ``RTP/AVP`` and ``RTP/AVP/UDP`` are UDP (clients write both); ``RTP/AVP/TCP`` is
    interleaved, on the client's channels or on ``free_channel`` and the next one.
    """
    for spec in header.split(","):
        parts = [p.strip() for p in spec.split(";")]
        protocol = parts[0].upper()
        params: dict[str, str] = {}
        for part in parts[1:]:
            key, _, value = part.partition("=")
            params[key.strip().lower()] = value.strip()
        if "multicast" in params:
            continue
        if protocol == "RTP/AVP/TCP":
            if "interleaved" not in params:
                return TransportChoice(True, (free_channel, free_channel + 1))
            channels = _pair(params["interleaved"])
            if channels is not None and max(channels) <= 255:
                return TransportChoice(True, channels)
        elif protocol in ("RTP/AVP", "RTP/AVP/UDP"):
            ports = _pair(params.get("client_port", ""))
            if ports is not None and ports[0] > 0 and ports[1] > 0:
                return TransportChoice(False, client_ports=ports)
    return None


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, on_data: Callable[[], None]) -> None:
        self.on_data = on_data

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.on_data()

    def error_received(self, exc: Exception) -> None:
        """ICMP port unreachable and the like: the session timeout ends the viewer."""


@attrs.define
class UdpPair:
    """The server's RTP and RTCP sockets for one UDP viewer."""

    rtp: asyncio.DatagramTransport
    rtcp: asyncio.DatagramTransport
    ports: tuple[int, int]

    def close(self) -> None:
        """Close both sockets."""
        self.rtp.close()
        self.rtcp.close()


async def bind_udp_pair(host: str, on_rtcp: Callable[[], None], tries: int = 32) -> UdpPair:
    """Two free UDP ports ``n`` (even, RTP) and ``n + 1`` (RTCP) on ``host``."""
    loop = asyncio.get_running_loop()
    for _ in range(tries):
        first = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        second = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            first.bind((host, 0))
            port = first.getsockname()[1]
            if port % 2 or port == 65535:
                raise OSError("odd port")
            second.bind((host, port + 1))
        except OSError:
            first.close()
            second.close()
            continue
        for sock in (first, second):
            sock.setblocking(False)
        rtp, _ = await loop.create_datagram_endpoint(lambda: _Datagrams(lambda: None), sock=first)
        rtcp, _ = await loop.create_datagram_endpoint(lambda: _Datagrams(on_rtcp), sock=second)
        return UdpPair(rtp, rtcp, (port, port + 1))
    raise OSError(f"no free UDP port pair on {host}")


class Viewer:
    """One RTSP session: where its packets go, whether it plays, what it was sent.

    ``waiting`` holds packets back until the next keyframe (at start, and after the
    viewer lagged behind and frames were skipped for it).
    """

    def __init__(
        self,
        session_id: str,
        owner: Any,
        choice: TransportChoice,
        *,
        tcp: asyncio.Transport | None = None,
        udp: UdpPair | None = None,
        peer: str = "",
    ) -> None:
        self.id = session_id
        self.owner = owner
        self.choice = choice
        self.tcp = tcp
        self.udp = udp
        self.peer = peer
        self.playing = False
        self.waiting = True
        self.lagging = False
        self.last_seen = time.monotonic()
        self.started = time.monotonic()
        self.packets = 0
        self.octets = 0
        self.dropped = 0
        self.dropped_metric: Any = None
        self.closed = False

    def drop(self, count: int) -> None:
        """Count ``count`` packets not sent because the viewer lagged behind."""
        self.dropped += count
        if self.dropped_metric is not None:
            self.dropped_metric.inc(count)

    def touch(self) -> None:
        """Note a sign of life (a request or an RTCP report)."""
        self.last_seen = time.monotonic()

    def backlog(self) -> int:
        """Bytes written to this viewer but not yet handed to the kernel (TCP)."""
        return self.tcp.get_write_buffer_size() if self.tcp is not None else 0

    def send(self, packets: list[bytes], blobs: dict[int, bytes], size: int) -> None:
        """Send one frame's RTP ``packets`` (``size`` payload bytes in all).

        ``blobs`` caches the interleaved form per channel, shared by the TCP viewers.
        """
        if self.tcp is not None:
            channel = self.choice.channels[0]
            blob = blobs.get(channel)
            if blob is None:
                blob = blobs[channel] = interleave(packets, channel)
            self.tcp.write(blob)
        elif self.udp is not None:
            sendto = self.udp.rtp.sendto
            address = (self.peer, self.choice.client_ports[0])
            for packet in packets:
                sendto(packet, address)
        self.packets += len(packets)
        self.octets += size

    def send_rtcp(self, packet: bytes) -> None:
        """Send one RTCP packet on the viewer's RTCP channel or port."""
        if self.tcp is not None:
            self.tcp.write(interleave([packet], self.choice.channels[1]))
        elif self.udp is not None:
            self.udp.rtcp.sendto(packet, (self.peer, self.choice.client_ports[1]))

    def close(self) -> None:
        """Stop sending and release the UDP sockets (the RTSP connection stays)."""
        self.closed = True
        self.playing = False
        if self.udp is not None:
            with contextlib.suppress(Exception):
                self.udp.close()
