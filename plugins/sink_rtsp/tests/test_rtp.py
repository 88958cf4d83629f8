"""RTP headers, RFC 6184 packetisation and RTCP sender reports."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from dh_serverless.sinks.rtsp.rtp import (
    RtpStream,
    h264_payloads,
    interleave,
    sender_report,
    split_annexb,
)

_nal = st.binary(min_size=1, max_size=5000).map(
    lambda b: bytes([0x65]) + b.replace(b"\x00", b"\x01") + b"\x80"
)


def test_split_annexb_handles_3_and_4_byte_start_codes():
    stream = b"\x00\x00\x00\x01\x67\x42\x00\x00\x01\x68\xce\x00\x00\x00\x01\x65\x88\x84"
    assert split_annexb(stream) == [b"\x67\x42", b"\x68\xce", b"\x65\x88\x84"]


def reassemble(payloads: list[bytes]) -> list[bytes]:
    nals, current = [], b""
    for p in payloads:
        if p[0] & 0x1F == 28:
            if p[1] & 0x80:
                current = bytes([(p[0] & 0xE0) | (p[1] & 0x1F)])
            current += p[2:]
            if p[1] & 0x40:
                nals.append(current)
        else:
            nals.append(p)
    return nals


@settings(max_examples=50, deadline=None)
@given(st.lists(_nal, min_size=1, max_size=4))
def test_payloads_fit_and_reassemble_to_the_same_nal_units(nals):
    payloads = h264_payloads(nals, 1400)
    assert all(len(p) <= 1400 for p in payloads)
    assert reassemble(payloads) == nals


def test_rtp_header_marks_the_last_packet_and_counts_sequence_numbers():
    stream = RtpStream(96)
    stream.seq = 0xFFFF
    packets = stream.packets([b"a", b"b", b"c"], 123456)
    fields = [struct.unpack("!BBHII", p[:12]) for p in packets]
    assert [f[0] for f in fields] == [0x80] * 3
    assert [f[1] for f in fields] == [96, 96, 96 | 0x80]
    assert [f[2] for f in fields] == [0xFFFF, 0, 1]
    assert {f[3] for f in fields} == {123456}
    assert {f[4] for f in fields} == {stream.ssrc}
    assert [p[12:] for p in packets] == [b"a", b"b", b"c"]


def test_interleave_frames_each_packet():
    assert interleave([b"xy", b"z"], 2) == b"$\x02\x00\x02xy$\x02\x00\x01z"


def test_sender_report_layout():
    report = sender_report(0xDEADBEEF, 90000, 10, 5000, wall=1_700_000_000.5)
    assert len(report) == 28
    v, pt, length, ssrc, ntp_s, ntp_f, ts, packets, octets = struct.unpack("!BBHIIIIII", report)
    assert (v, pt, length, ssrc) == (0x80, 200, 6, 0xDEADBEEF)
    assert ntp_s == 1_700_000_000 + 2_208_988_800
    assert ntp_f == 1 << 31
    assert (ts, packets, octets) == (90000, 10, 5000)
