"""RTP packets (RFC 3550), H.264 packetisation (RFC 6184) and RTCP sender reports.

Written by hand: the packetiser is about forty lines, while PyAV's ``rtp`` muxer needs
a file object, has no SDP generator and mixes its own RTCP into the packet stream
(see the media reference, section 2.2). One :class:`RtpStream` numbers the packets of
one sink; every viewer receives the same packets (shared SSRC and sequence numbers).
"""

from __future__ import annotations

import os
import struct
import time

__all__ = (
    "MAX_PAYLOAD",
    "RtpStream",
    "h264_payloads",
    "interleave",
    "sender_report",
    "split_annexb",
)

#: Largest RTP payload: 1400 bytes keeps RTP + UDP + IPv4 headers under a 1500-byte MTU.
MAX_PAYLOAD = 1400
_FU_A = 28
_NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01
_HEADER = struct.Struct("!BBHII")


def split_annexb(data: bytes) -> list[bytes]:
    """The NAL units of an Annex B byte stream (3- and 4-byte start codes mixed).

    The trailing zero bytes of each unit, which belong to the next 4-byte start code or
    are trailing padding, are stripped.
    """
    nals: list[bytes] = []
    find = data.find
    start = find(b"\x00\x00\x01")
    while start != -1:
        start += 3
        end = find(b"\x00\x00\x01", start)
        nal = data[start:] if end == -1 else data[start:end]
        nal = nal.rstrip(b"\x00")
        if nal:
            nals.append(nal)
        start = end
    return nals


def h264_payloads(nals: list[bytes], limit: int = MAX_PAYLOAD) -> list[bytes]:
    """RTP payloads for one access unit, packetisation mode 1 (RFC 6184).

    A NAL unit that fits in ``limit`` bytes travels alone (single NAL unit packet); a
    larger one is cut into FU-A fragments of at most ``limit`` bytes each.
    """
    payloads: list[bytes] = []
    chunk = limit - 2
    for nal in nals:
        if len(nal) <= limit:
            payloads.append(nal)
            continue
        indicator = (nal[0] & 0xE0) | _FU_A
        kind = nal[0] & 0x1F
        body = memoryview(nal)[1:]
        last = len(body) - 1
        for offset in range(0, len(body), chunk):
            header = kind
            if offset == 0:
                header |= 0x80
            if offset + chunk > last:
                header |= 0x40
            payloads.append(bytes((indicator, header)) + body[offset : offset + chunk])
    return payloads


class RtpStream:
    """Sequence numbers, SSRC and packet building for one outgoing RTP stream.

    :param payload_type: 96 for H.264 (dynamic), 26 for JPEG (static).
    """

    __slots__ = ("payload_type", "seq", "ssrc")

    def __init__(self, payload_type: int) -> None:
        self.payload_type = payload_type
        self.seq = int.from_bytes(os.urandom(2), "big")
        self.ssrc = int.from_bytes(os.urandom(4), "big")

    def packets(self, payloads: list[bytes], timestamp: int) -> list[bytes]:
        """One RTP packet per payload, all with ``timestamp``; marker on the last one."""
        out: list[bytes] = []
        last = len(payloads) - 1
        pack = _HEADER.pack
        seq = self.seq
        pt = self.payload_type
        ts = timestamp & 0xFFFFFFFF
        for index, payload in enumerate(payloads):
            second = pt | 0x80 if index == last else pt
            out.append(pack(0x80, second, seq, ts, self.ssrc) + payload)
            seq = (seq + 1) & 0xFFFF
        self.seq = seq
        return out

    def spaced(self, payloads: list[bytes], timestamp: int, step: int) -> list[bytes]:
        """One RTP packet per payload, the first at ``timestamp`` and each next one
        ``step`` clock units later (audio: ``step`` samples per packet); no marker bit."""
        out: list[bytes] = []
        pack = _HEADER.pack
        seq = self.seq
        pt = self.payload_type
        for index, payload in enumerate(payloads):
            ts = (timestamp + index * step) & 0xFFFFFFFF
            out.append(pack(0x80, pt, seq, ts, self.ssrc) + payload)
            seq = (seq + 1) & 0xFFFF
        self.seq = seq
        return out


def interleave(packets: list[bytes], channel: int) -> bytes:
    """``packets`` framed for RTP over the RTSP connection (RFC 2326 section 10.12)."""
    parts: list[bytes] = []
    for packet in packets:
        parts.append(struct.pack("!cBH", b"$", channel, len(packet)))
        parts.append(packet)
    return b"".join(parts)


def sender_report(
    ssrc: int, rtp_timestamp: int, packets: int, octets: int, wall: float | None = None
) -> bytes:
    """An RTCP sender report (PT 200) with no report blocks.

    :param rtp_timestamp: the RTP time that corresponds to ``wall`` (Unix seconds).
    """
    now = time.time() if wall is None else wall
    seconds = int(now)
    fraction = int((now - seconds) * (1 << 32)) & 0xFFFFFFFF
    return struct.pack(
        "!BBHIIIIII",
        0x80,
        200,
        6,
        ssrc,
        (seconds + _NTP_EPOCH_OFFSET) & 0xFFFFFFFF,
        fraction,
        rtp_timestamp & 0xFFFFFFFF,
        packets & 0xFFFFFFFF,
        octets & 0xFFFFFFFF,
    )
