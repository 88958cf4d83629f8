"""The parser alone: every quirk-matrix row, any chunk split, and fuzzed garbage."""

from __future__ import annotations

import random

import pytest
import simplejpeg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mjpeg_quirks import VARIANTS, build_variant, make_frames

from dh_serverless.triggers.mjpeg.parser import MjpegParser, boundary_from_content_type

FRAMES = make_frames(12)


def run(parser: MjpegParser, body: bytes, sizes: list[int]) -> list[bytes]:
    out, pos, i = [], 0, 0
    while pos < len(body):
        n = sizes[i % len(sizes)] if sizes else len(body)
        out += [f.data for f in parser.feed(body[pos : pos + n])]
        pos += n
        i += 1
    return out


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("chunk", [1, 997, 65536])
def test_every_quirk_gives_every_frame_byte_exact(variant, chunk):
    ctype, body, expected = build_variant(variant, FRAMES)
    parser = MjpegParser(boundary_from_content_type(ctype))
    assert run(parser, body, [chunk]) == expected
    for frame in expected:
        simplejpeg.decode_jpeg(frame)  # what comes out decodes strictly


def test_x_timestamp_is_the_capture_time():
    ctype, body, _ = build_variant("extra-headers", FRAMES)
    frames = MjpegParser(boundary_from_content_type(ctype)).feed(body)
    assert [f.timestamp for f in frames][:3] == [1700000000.0, 1700000000.1, 1700000000.2]


@pytest.mark.parametrize(
    ("header", "boundary"),
    [
        ("multipart/x-mixed-replace; boundary=frame", "frame"),
        ("multipart/x-mixed-replace;boundary=--myboundary", "myboundary"),
        ('multipart/x-mixed-replace ; boundary = "a b"', "a b"),
        ("multipart/x-mixed-replace; BOUNDARY=x; charset=utf-8", "x"),
        ("application/octet-stream", None),
        ("", None),
        (None, None),
    ],
)
def test_boundary_from_content_type(header, boundary):
    assert boundary_from_content_type(header) == boundary


def test_wrong_length_is_counted_and_recovered():
    ctype, body, expected = build_variant("wrong-length", FRAMES)
    parser = MjpegParser(boundary_from_content_type(ctype))
    assert run(parser, body, [4096]) == expected
    assert parser.stats.bad_length == len(FRAMES)


def test_non_jpeg_parts_are_skipped_and_counted():
    ctype, body, expected = build_variant("non-jpeg-parts", FRAMES)
    parser = MjpegParser(boundary_from_content_type(ctype))
    assert run(parser, body, [333]) == expected
    assert parser.stats.non_jpeg == len(FRAMES) // 2


def test_a_corrupt_frame_costs_only_itself():
    frames = list(FRAMES)
    broken = bytearray(frames[4])
    broken[2:6] = b"\xff\x00\x00\x01"  # a bad marker right after SOI
    ctype, body, _ = build_variant("no-length", [*frames[:4], bytes(broken), *frames[5:]])
    parser = MjpegParser(boundary_from_content_type(ctype))
    out = run(parser, body, [500])
    assert out == frames[:4] + frames[5:]
    assert parser.stats.corrupt >= 1


def test_oversized_frames_are_dropped_and_the_buffer_stays_bounded():
    big = make_frames(1, 640, 480)[0]
    small = FRAMES[:3]
    _, body, _ = build_variant("no-length", [small[0], big, small[1], big, small[2]])
    parser = MjpegParser("myboundary", max_frame=len(big) // 2, max_header=1024)
    out = []
    for i in range(0, len(body), 1000):
        out += [f.data for f in parser.feed(body[i : i + 1000])]
        assert parser.buffered <= parser.max_frame + parser.max_header + 1000
    assert out == small
    assert parser.stats.oversize >= 2


def test_endless_garbage_never_grows_the_buffer():
    parser = MjpegParser("b", max_frame=4096, max_header=256)
    rng = random.Random(7)
    for _ in range(300):
        parser.feed(rng.randbytes(700))
        assert parser.buffered <= 4096 + 256 + 700
    # a header block that never ends
    parser.feed(b"--b\r\n" + b"X-Long: " + b"a" * 5000)
    assert parser.buffered <= 4096 + 256 + 5100
    _ctype, body, expected = build_variant("plain", FRAMES)
    assert run(parser, b"\r\n" + body.replace(b"myboundary", b"b"), [100])[-5:] == expected[-5:]


# ---------------------------------------------------------------------------
# Property tests: any chunk split, any variant, garbage between frames
# ---------------------------------------------------------------------------

fuzz = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fuzz
@given(
    variant=st.sampled_from(VARIANTS),
    sizes=st.lists(st.integers(1, 3000), min_size=1, max_size=20),
)
def test_chunk_splits_never_change_the_frames(variant, sizes):
    ctype, body, expected = build_variant(variant, FRAMES[:6])
    parser = MjpegParser(boundary_from_content_type(ctype))
    assert run(parser, body, sizes) == expected


@fuzz
@given(
    variant=st.sampled_from(("plain", "no-length", "raw-jpegs", "lf-only", "ffmpeg")),
    junk=st.lists(st.binary(max_size=300), min_size=7, max_size=7),
    sizes=st.lists(st.integers(1, 2000), min_size=1, max_size=10),
)
def test_garbage_between_parts_loses_at_most_the_neighbouring_frames(variant, junk, sizes):
    """Junk after a frame may spoil that part and the next; every other frame comes out."""
    frames = FRAMES[:7]
    ctype, _, _ = build_variant(variant, frames)
    pieces = [build_variant(variant, [f])[1] for f in frames]
    if variant == "ffmpeg":
        pieces = [p.removesuffix(b"--ffmpeg\r\n") for p in pieces]
    body = b"".join(p + j.replace(b"\xff\xd8", b"") for p, j in zip(pieces, junk, strict=True))
    parser = MjpegParser(boundary_from_content_type(ctype))
    out = run(parser, body, sizes)
    for i, frame in enumerate(frames):
        spoiled = (junk[i - 1] if i else b"") + (junk[i] if i < 6 else b"")
        if not spoiled:
            assert frame in out
    assert all(f in frames or not f.startswith(b"\xff\xd8") or f.endswith(b"\xff\xd9") for f in out)


@fuzz
@given(data=st.binary(max_size=5000), boundary=st.one_of(st.none(), st.text(max_size=20)))
def test_random_bytes_never_raise(data, boundary):
    parser = MjpegParser(boundary, max_frame=2048, max_header=128)
    for i in range(0, len(data), 97):
        for frame in parser.feed(data[i : i + 97]):
            assert frame.data.startswith(b"\xff\xd8")
            assert frame.data.endswith(b"\xff\xd9")
        assert parser.buffered <= 2048 + 128 + 97


@fuzz
@given(
    cuts=st.lists(st.tuples(st.integers(0, 10**6), st.binary(min_size=1, max_size=8)), max_size=6),
    sizes=st.lists(st.integers(1, 4000), min_size=1, max_size=5),
)
def test_mutated_streams_never_raise_and_stay_bounded(cuts, sizes):
    ctype, body, expected = build_variant("plain", FRAMES)
    mutated = bytearray(body)
    for pos, blob in cuts:
        p = pos % len(mutated)
        mutated[p : p + len(blob)] = blob
    parser = MjpegParser(boundary_from_content_type(ctype), max_frame=8192, max_header=512)
    out = run(parser, bytes(mutated), sizes)
    assert parser.buffered <= 8192 + 512 + 4000
    # a frame no mutation touched is still there
    untouched = [f for f in expected if f in bytes(mutated)]
    assert len(out) >= len(untouched) - 2 * len(cuts)


@pytest.mark.parametrize(
    "head",
    [
        b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n",
        b"--frame\r\ncontent-length:%d\r\nCONTENT-TYPE: image/jpg \r\n\r\n",
        b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\nX-Timestamp: 5\r\n\r\n",
    ],
)
@pytest.mark.parametrize("tail", [b"\r\n", b"", b"\n\x00"])
def test_typical_and_other_parts_give_the_same_frames(head, tail):
    """The one-expression path for the part cameras send over and over, and the general
    header parsing for any other, cut the same frames with the same timestamps."""
    body = b"".join(head % len(f) + f + tail for f in FRAMES)
    for chunk in (len(body), 4096, 333):
        parser = MjpegParser("frame")
        frames = []
        for pos in range(0, len(body), chunk):
            frames += parser.feed(body[pos : pos + chunk])
        assert [f.data for f in frames] == FRAMES[: len(frames)]
        assert len(frames) >= len(FRAMES) - 1  # the last part waits for the next delimiter
        stamps = {f.timestamp for f in frames}
        assert stamps == ({5.0} if b"X-Timestamp" in head else {None})
        assert parser.stats.frames == len(frames)
        assert parser.stats.corrupt == parser.stats.bad_length == 0


def test_a_typical_part_whose_length_runs_into_the_next_is_not_taken_whole():
    """A Content-Length that cuts the image short never passes the typical-part check."""
    good, cut = FRAMES[0], FRAMES[1]
    body = (
        b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % (len(cut) + 40)
        + cut[:-30]
        + b"\r\n--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(good)
        + good
        + b"\r\n--frame\r\n"
    )
    frames = MjpegParser("frame").feed(body)
    assert [f.data for f in frames] == [good]
