"""What the media sinks share: the viewer page, the video encoder, their clock, rate and metrics."""

from __future__ import annotations

import time

import numpy as np
import pytest
import simplejpeg

from dh_serverless.core.api import (
    VIDEO_CLOCK,
    MediaClock,
    RecentRate,
    VideoEncoder,
    ViewerMetrics,
    local_url,
    rgb_array,
    viewer_page,
)
from dh_serverless.hookspecs.metrics import Metrics


def test_the_viewer_page_escapes_the_title_and_holds_what_the_sink_gives():
    page = viewer_page(
        "cam <1> & co",
        picture='<img id="video" src="s">',
        info='<span id="fps">-</span>',
        script="const a = {b: 1};",
    ).decode()
    assert page.startswith("<!doctype html>")
    assert "<title>cam &lt;1&gt; &amp; co</title>" in page
    assert '<div id="stage">\n  <img id="video" src="s">\n' in page
    assert '<div id="info"><span id="fps">-</span></div>' in page
    assert "<script>\nconst a = {b: 1};\n</script>" in page
    assert "#video { display: block;" in page


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("0.0.0.0", "rtsp://127.0.0.1:8554/live"),
        ("", "rtsp://127.0.0.1:8554/live"),
        ("::", "rtsp://127.0.0.1:8554/live"),
        ("::1", "rtsp://[::1]:8554/live"),
        ("cam.local", "rtsp://cam.local:8554/live"),
    ],
)
def test_local_url_dials_a_wildcard_listener_on_loopback(host, url):
    assert local_url("rtsp", host, 8554, "/live") == url


def test_the_media_clock_follows_the_frames_own_spacing_and_never_goes_back():
    clock = MediaClock()
    now = time.time()
    first = clock.pts(1000.0, now)  # a camera whose clock is far off: anchored at once
    second = clock.pts(1000.04, now + 0.01)
    assert second == first + round(0.04 * VIDEO_CLOCK)
    assert clock.pts(1000.04, now + 0.02) == clock.last == second + 1  # never the same twice
    assert clock.pts(999.0, now + 0.03) == second + 2  # stamped earlier: later, not back
    jumped = clock.pts(5000.0, now + 10)  # the camera's clock jumped: anchored afresh
    assert jumped == round((now + 10 - clock.wall0) * VIDEO_CLOCK)
    assert clock.pts(5000.5, now + 10.5) == jumped + round(0.5 * VIDEO_CLOCK)


def test_the_recent_rate_counts_the_last_two_seconds():
    rate = RecentRate()
    assert rate.read() == 0.0
    now = time.monotonic()
    for i in range(11):
        rate.tick(now - 1.0 + i * 0.1)
    assert rate.read() == pytest.approx(10.0)
    rate.tick(now - 10.0)  # long gone: not counted
    assert rate.read() == pytest.approx(10.0)


def test_viewer_metrics_make_only_the_families_a_sink_asks_for():
    registry = Metrics()
    plain = ViewerMetrics(registry, "cam", prefix="dh_a", viewers="Viewers of a")
    plain.watch_viewers(lambda: 3)
    assert sorted(f.name for f in registry) == ["dh_a_viewers"]
    assert registry.families["dh_a_viewers"].labels("cam").read() == 3.0
    m = ViewerMetrics(
        registry, "cam", prefix="dh_b", viewers="Viewers of b", codec="h264",
        skip_reasons=("slow", "not_frame"), sent_bytes="Bytes sent",
    )  # fmt: skip
    assert sorted(f.name for f in registry if f.name.startswith("dh_b")) == [
        "dh_b_encode_seconds", "dh_b_frames_encoded", "dh_b_frames_sent",
        "dh_b_frames_skipped", "dh_b_sent_bytes", "dh_b_viewers",
    ]  # fmt: skip
    m.frame_encoded(0.003)
    m.skipped["slow"].inc(2)
    m.sent_bytes.inc(100)
    assert registry.families["dh_b_frames_encoded"].labels("cam", "h264").value == 1
    assert registry.families["dh_b_encode_seconds"].labels("cam").count == 1
    assert registry.families["dh_b_frames_skipped"].labels("cam", "slow").value == 2
    assert registry.families["dh_b_sent_bytes"].labels("cam").value == 100


def _jpeg(width: int, height: int) -> bytes:
    data: bytes = simplejpeg.encode_jpeg(
        np.full((height, width, 3), 128, np.uint8), quality=90, colorspace="RGB"
    )
    return data


class _Counting(VideoEncoder):
    def __init__(self, **kwargs: object) -> None:
        super().__init__("libx264", fps=30, pix_fmt="yuv420p", **kwargs)  # type: ignore[arg-type]
        self.opened: list[tuple[int, int]] = []

    def configure(self, ctx, width, height):
        ctx.options = {"preset": "ultrafast", "tune": "zerolatency"}
        self.opened.append((width, height))


def test_the_encoder_takes_jpeg_and_arrays_reopens_on_a_new_size_and_keeps_pts_rising():
    encoder = _Counting()
    frame, packets, key = encoder.encode_packets(_jpeg(320, 240), 0, False)
    assert (frame.width, frame.height, frame.format.name, key) == (320, 240, "yuv420p", True)
    assert packets
    assert packets[0].is_keyframe
    frame, packets, key = encoder.encode_packets(np.zeros((240, 320, 3), np.uint8), 0, False)
    assert (frame.pts, key) == (1, False)  # same pts asked again: one tick later
    frame, _, key = encoder.encode_packets(np.zeros((241, 321, 3), np.uint8), 9000, False)
    assert (frame.width, frame.height, key) == (320, 240, False)  # cropped to even sides
    _, packets, key = encoder.encode_packets(np.zeros((240, 320, 3), np.uint8), 12000, True)
    assert key
    assert packets[0].is_keyframe
    frame, _, key = encoder.encode_packets(np.zeros((120, 160, 3), np.uint8), 15000, False)
    assert key
    assert encoder.opened == [(320, 240), (160, 120)]
    encoder.close()


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not a jpeg",
        b"\xff\xd8garbage",
        "text",
        None,
        np.zeros((8, 8), np.uint8),
        np.zeros((8, 8, 3), np.float32),
        np.zeros((1, 1, 3), np.uint8),
    ],
)
def test_what_is_not_a_frame_is_a_value_error_naming_what_was_expected(body):
    with pytest.raises(ValueError, match=r"JPEG|array|too small"):
        _Counting().encode_packets(body, 0, False)


def test_a_jpeg_ffmpeg_refuses_goes_to_the_fallback():
    seen = []

    def fallback(data: bytes):
        seen.append(data)
        return np.zeros((16, 16, 3), np.uint8)

    frame, _, _ = _Counting(jpeg_fallback=fallback).encode_packets(b"\xff\xd8garbage", 0, False)
    assert seen == [b"\xff\xd8garbage"]
    assert (frame.width, frame.height) == (16, 16)


def test_rgb_array_accepts_only_hxwx3_uint8():
    good = np.zeros((4, 4, 3), np.uint8)
    assert rgb_array(good) is good
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        rgb_array(np.zeros((4, 4, 4), np.uint8))
