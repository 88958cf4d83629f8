"""A part ends at its delimiter: a JPEG cut short is dropped and counted, never merged
with the next part and handed to the handler (issue 22)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mjpeg_quirks import make_frames

from dh_serverless.triggers.mjpeg.parser import MjpegParser

FRAMES = make_frames(8)
#: how the truncated part declares its length: none, the bytes really sent, the full size
LENGTHS = ("none", "cut", "full")


def stream(frames: list[bytes], cut_index: int, cut: int, *, nl: bytes, length: str) -> bytes:
    """A multipart body in which frame ``cut_index`` is cut to its first ``cut`` bytes."""
    out = bytearray()
    for i, frame in enumerate(frames):
        body = frame[:cut] if i == cut_index else frame
        headers = [b"Content-Type: image/jpeg"]
        if length == "cut" or (length == "full" and i != cut_index):
            headers.append(b"Content-Length: %d" % len(body))
        elif length == "full":
            headers.append(b"Content-Length: %d" % len(frame))
        out += b"--myboundary" + nl + nl.join(headers) + nl + nl + body + nl
    return bytes(out)


def run(parser: MjpegParser, body: bytes, chunk: int) -> list[bytes]:
    out = []
    for i in range(0, len(body), chunk):
        out += [f.data for f in parser.feed(body[i : i + chunk])]
    return out


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("nl", [b"\r\n", b"\n"], ids=["crlf", "lf"])
@pytest.mark.parametrize("chunk", [1, 1000, 1 << 20])
def test_a_truncated_part_is_dropped_and_counted(length, nl, chunk):
    cut = len(FRAMES[3]) - 150  # inside the entropy-coded data
    body = stream(FRAMES, 3, cut, nl=nl, length=length)
    parser = MjpegParser("myboundary")
    out = run(parser, body, chunk)
    assert out == FRAMES[:3] + FRAMES[4:], "a merged or missing frame reached the handler"
    assert parser.stats.corrupt == 1


@pytest.mark.parametrize("chunk", [1, 1000, 1 << 20])
def test_a_truncated_raw_jpeg_is_dropped_and_counted(chunk):
    body = b"".join(f[: len(f) - 150] if i == 3 else f for i, f in enumerate(FRAMES))
    parser = MjpegParser(None)
    out = run(parser, body, chunk)
    assert out == FRAMES[:3] + FRAMES[4:]
    assert parser.stats.corrupt == 1


fuzz = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fuzz
@given(
    data=st.data(),
    cut_index=st.integers(0, len(FRAMES) - 2),  # the last part may still be arriving
    length=st.sampled_from(LENGTHS),
    nl=st.sampled_from([b"\r\n", b"\n"]),
    chunk=st.integers(1, 5000),
)
def test_any_cut_of_any_part_costs_only_that_frame(data, cut_index, length, nl, chunk):
    frame = FRAMES[cut_index]
    cut = data.draw(st.integers(2, len(frame) - 1), label="cut")
    body = stream(FRAMES, cut_index, cut, nl=nl, length=length)
    parser = MjpegParser("myboundary")
    out = run(parser, body, chunk)
    expected = FRAMES[:cut_index] + FRAMES[cut_index + 1 :]
    assert out == expected
    assert parser.stats.corrupt == 1


@fuzz
@given(data=st.data(), cut_index=st.integers(0, len(FRAMES) - 2), chunk=st.integers(1, 5000))
def test_any_cut_of_a_raw_jpeg_costs_only_that_frame(data, cut_index, chunk):
    frame = FRAMES[cut_index]
    cut = data.draw(st.integers(4, len(frame) - 1), label="cut")
    body = b"".join(f[:cut] if i == cut_index else f for i, f in enumerate(FRAMES))
    parser = MjpegParser(None)
    out = run(parser, body, chunk)
    # every frame that comes out is one of the originals, whole
    assert all(f in FRAMES for f in out), "a merged frame came out"
    assert out == FRAMES[:cut_index] + FRAMES[cut_index + 1 :]
    assert parser.stats.corrupt == 1


@pytest.mark.parametrize(("chunk", "step"), [(1 << 20, 1), (7, 17)], ids=["whole", "7-bytes"])
def test_every_cut_of_one_frame_costs_only_that_frame(chunk, step):
    """Every cut position of frame 2 (every 17th fed in 7-byte chunks), in every framing:
    no merged frame, one corrupt."""
    frame = FRAMES[2]
    expected = FRAMES[:2] + FRAMES[3:]
    for cut in range(4, len(frame), step):
        raw = MjpegParser(None)
        body = b"".join(f[:cut] if i == 2 else f for i, f in enumerate(FRAMES))
        assert run(raw, body, chunk) == expected, f"raw JPEGs cut at {cut}"
        assert raw.stats.corrupt == 1, f"raw JPEGs cut at {cut}"
        for length in LENGTHS:
            parser = MjpegParser("myboundary")
            out = run(parser, stream(FRAMES, 2, cut, nl=b"\r\n", length=length), chunk)
            assert out == expected, f"{length} cut at {cut}"
            assert parser.stats.corrupt == 1, f"{length} cut at {cut}"
