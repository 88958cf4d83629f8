"""The H.264 encoder on its own: keyframes on demand, size changes, bitrate, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from rtsp_helpers import jpeg, picture

from dh_serverless.sinks.rtsp.encoder import H264Encoder


def nal_types(frame):
    types = []
    for payload in frame.payloads:
        kind = payload[0] & 0x1F
        if kind == 28:  # FU-A: the fragment's own type, once per NAL unit
            if payload[1] & 0x80:
                types.append(payload[1] & 0x1F)
        else:
            types.append(kind)
    return types


def test_keyframes_when_asked_and_when_the_size_changes():
    encoder = H264Encoder(fps=30)
    frames = [encoder.encode(jpeg(picture(shift=i)), i * 3000, i == 3) for i in range(5)]
    assert [f.keyframe for f in frames] == [True, False, False, True, False]
    assert nal_types(frames[0])[:2] == [7, 8]  # SPS and PPS before the IDR
    assert 5 in nal_types(frames[3])
    assert set(nal_types(frames[1])) == {1}
    sps = encoder.sps
    smaller = encoder.encode(jpeg(picture(320, 240)), 5 * 3000, False)
    assert smaller.keyframe
    assert (smaller.width, smaller.height) == (320, 240)
    assert encoder.sps != sps


def test_bitrate_bounds_the_frame_size():
    rng = np.random.default_rng(3)
    noise = [rng.integers(0, 256, (240, 320, 3), np.uint8) for _ in range(30)]

    def average(bitrate):
        encoder = H264Encoder(fps=30, bitrate=bitrate)
        frames = [encoder.encode(n, i * 3000, False) for i, n in enumerate(noise)]
        return np.mean([sum(len(p) for p in f.payloads) for f in frames[5:]])

    assert average(200_000) < 200_000 / 8 / 30 * 3
    assert average(0) > 10 * average(200_000)


@pytest.mark.parametrize("body", [b"", b"not a jpeg", b"\xff\xd8\xff\xe0garbage", 42, None])
def test_what_is_not_a_picture_is_a_value_error(body):
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies with the input
        H264Encoder(fps=30).encode(body, 0, False)


def test_truncated_jpeg_is_refused_or_streamed_but_never_crashes():
    data = jpeg(picture())
    encoder = H264Encoder(fps=30)
    for cut in (100, len(data) // 2, len(data) - 10):
        try:
            frame = encoder.encode(data[:cut], cut, False)
        except ValueError:
            continue
        assert (frame.width, frame.height) == (640, 480)
