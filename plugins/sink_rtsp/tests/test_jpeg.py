"""Which JPEGs pass through RFC 2435 untouched, and their payloads."""

from __future__ import annotations

import contextlib
import struct
import subprocess

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rtsp_helpers import FFMPEG, jpeg, picture

from dh_serverless.sinks.rtsp.encoder import JpegPacketizer
from dh_serverless.sinks.rtsp.jpeg import jpeg_payloads, parse_jpeg


@pytest.mark.parametrize(("subsampling", "kind"), [("420", 1), ("422", 0)])
def test_simplejpeg_420_and_422_qualify(subsampling, kind):
    scan = parse_jpeg(jpeg(picture(640, 480), subsampling))
    assert scan.qualifies, scan.reason
    assert (scan.width, scan.height, scan.type) == (640, 480, kind)
    assert len(scan.tables) == 128


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (jpeg(picture(64, 48), "444"), "subsampling"),
        (jpeg(picture(100, 60), "420"), "multiples of 8"),
        (jpeg(picture(2048, 16), "420"), "at most 2040"),
    ],
)
def test_other_jpegs_do_not_qualify(data, reason):
    scan = parse_jpeg(data)
    assert not scan.qualifies
    assert reason in scan.reason


def test_ffmpeg_cli_jpegs_with_optimal_huffman_tables_do_not_qualify():
    data = subprocess.run(
        [FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240", "-frames:v", "1",
         "-pix_fmt", "yuvj420p", "-c:v", "mjpeg", "-f", "image2pipe", "-"],
        capture_output=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    scan = parse_jpeg(data)
    assert not scan.qualifies
    assert "Huffman" in scan.reason


def test_payloads_carry_the_scan_in_order_with_tables_first():
    scan = parse_jpeg(jpeg(picture(640, 480)))
    payloads = jpeg_payloads(scan, 1400)
    assert len(payloads) > 3
    assert all(len(p) <= 1400 for p in payloads)
    data, expected = b"", 0
    for index, p in enumerate(payloads):
        offset = struct.unpack("!I", p[:4])[0] & 0xFFFFFF
        assert offset == expected
        kind, q, w8, h8 = p[4:8]
        assert (kind, q, w8, h8) == (1, 255, 80, 60)
        body = p[8:]
        if index == 0:
            mbz, precision, length = struct.unpack("!BBH", body[:4])
            assert (mbz, precision, length) == (0, 0, 128)
            assert body[4:132] == scan.tables
            body = body[132:]
        data += body
        expected += len(body)
    assert data == scan.scan


def test_packetizer_reencodes_what_does_not_qualify():
    packetizer = JpegPacketizer(quality=80)
    packetizer.encode(jpeg(picture(64, 48), "444"), 0, False)
    packetizer.encode(jpeg(picture(64, 48), "420"), 0, False)
    frame = packetizer.encode(picture(100, 60), 0, False)
    assert (packetizer.passed, packetizer.reencoded) == (1, 2)
    assert (frame.width, frame.height) == (96, 56)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_parse_jpeg_rejects_garbage_with_value_error_only(data):
    for candidate in (data, b"\xff\xd8" + data):
        with contextlib.suppress(ValueError):
            parse_jpeg(candidate)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2000), st.binary(min_size=1, max_size=8))
def test_parse_jpeg_survives_corrupted_headers(position, noise):
    data = bytearray(jpeg(picture(32, 32)))
    position %= 700
    data[position : position + len(noise)] = noise
    with contextlib.suppress(ValueError):
        parse_jpeg(bytes(data))


def test_packetizer_rejects_what_is_not_an_image():
    with pytest.raises(ValueError, match="JPEG"):
        JpegPacketizer().encode(b"hello", 0, False)
    with pytest.raises(ValueError, match="HxWx3"):
        JpegPacketizer().encode(np.zeros((4, 4), np.uint8), 0, False)
