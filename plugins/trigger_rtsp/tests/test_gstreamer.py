"""The trigger against GStreamer's RTSP server (gst-rtsp-server): audio tones come back at
their frequency, video frames come as decodable JPEGs (or arrays) of the source's size."""

from __future__ import annotations

import datetime

import numpy as np
import pytest
import simplejpeg
from rtsp_peers import Recorder, dominant_frequency, gst_server, needs_gst, running_trigger

from dh_serverless.triggers.rtsp import NDARRAY_CONTENT_TYPE

pytestmark = [needs_gst, pytest.mark.timeout(90)]


def _pcm(event) -> np.ndarray:
    return np.frombuffer(event.body, dtype="<i2")


async def test_l16_tone_comes_back_at_its_frequency():
    with gst_server("--video", "none", "--audio", "l16", "--freq", "440", "--rate", "16000") as s:
        recorder = Recorder()
        async with running_trigger(
            s.url(), recorder, processing_interval=500, chunk_bytes=16000
        ) as trigger:
            await recorder.wait_for(3)
    first, last = recorder.events[0], recorder.events[-1]
    assert first.content_type == "application/octet-stream"
    assert first.get_field("sample_rate") == 16000
    assert first.get_field("channels") == 1
    assert first.get_field("sample_format") == "s16le"
    assert len(first.body) >= 16000
    assert len(first.body) % 2 == 0  # whole 16-bit samples (mono): the window stays aligned
    assert len(last.body) > len(first.body)  # the rolling buffer grows up to max_bytes
    assert first.get_field("duration") == pytest.approx(len(first.body) / 32000)
    assert abs(dominant_frequency(_pcm(last), 16000) - 440) < 3
    assert [e.get_field("chunk_num") for e in recorder.events[:3]] == [1, 2, 3]
    assert first.trigger.kind == "rtsp"
    assert first.trigger.name == "cam"
    assert isinstance(first.get_field("timestamp"), datetime.datetime)
    assert trigger.metrics.audio_seconds.value > 1.0


async def test_opus_48k_stereo_is_resampled_to_16k_mono():
    args = ("--video", "none", "--audio", "opus", "--freq", "1000", "--rate", "48000")
    with gst_server(*args, "--channels", "2") as s:
        recorder = Recorder()
        async with running_trigger(s.url(), recorder, processing_interval=0, chunk_bytes=32000):
            await recorder.wait_for(2)
    pcm = _pcm(recorder.events[-1])
    assert len(pcm) >= 16000
    assert abs(dominant_frequency(pcm, 16000) - 1000) < 3


async def test_stereo_numpy_output():
    with gst_server("--video", "none", "--audio", "l16", "--freq", "300", "--rate", "8000") as s:
        recorder = Recorder()
        async with running_trigger(
            s.url(), recorder, processing_interval=0, chunk_bytes=44100 * 4 // 10,
            sample_rate=44100, channels=2, numpy=True, max_bytes=44100 * 4 * 10,
            trim_bytes=44100 * 4 * 5,
        ):  # fmt: skip
            await recorder.wait_for(2)
    event = recorder.events[-1]
    assert event.content_type == NDARRAY_CONTENT_TYPE
    body = event.body
    assert isinstance(body, np.ndarray)
    assert body.dtype == np.int16
    assert body.shape[1] == 2
    assert np.array_equal(body[:, 0], body[:, 1])  # mono source on both channels
    assert abs(dominant_frequency(body[:, 0], 44100) - 300) < 3


@pytest.mark.parametrize("codec", ["h264", "h265", "jpeg"])
async def test_video_frames_are_jpegs_of_the_source_size(codec):
    with gst_server("--video", codec, "--size", "320x240", "--fps", "15") as s:
        recorder = Recorder()
        async with running_trigger(
            s.url(), recorder, media_type="video", processing_interval=0
        ) as trigger:
            await recorder.wait_for(10)
    nums = [e.get_field("frame_num") for e in recorder.events]
    assert nums == sorted(nums)
    assert len(set(nums)) == len(nums)
    for event in recorder.events:
        assert event.content_type == "image/jpeg"
        rgb = simplejpeg.decode_jpeg(event.body)
        assert rgb.shape == (240, 320, 3)
        assert (event.get_field("width"), event.get_field("height")) == (320, 240)
    assert trigger.metrics.received.value >= 10


@pytest.mark.parametrize(("pattern", "low", "high"), [("white", 248, 255), ("black", 0, 6)])
async def test_video_colours_are_full_range(pattern, low, high):
    # H.264 carries limited range (white 235, black 16); a JPEG is full range. Frames put
    # into a JPEG without conversion would read 235 and 16.
    with gst_server("--video", "h264", "--size", "320x240", "--pattern", pattern) as s:
        recorder = Recorder()
        async with running_trigger(s.url(), recorder, media_type="video", processing_interval=0):
            await recorder.wait_for(5)
    for event in recorder.events[1:]:
        mean = simplejpeg.decode_jpeg(event.body).mean()
        assert low <= mean <= high, mean


async def test_joining_mid_gop_gives_no_half_decoded_frames():
    # A 6 s GOP, the stream already running (a first reader started the shared pipeline):
    # the trigger joins between keyframes, and its first frame must still be whole.
    args = ("--video", "h264", "--size", "320x240", "--fps", "15", "--gop", "90")
    with gst_server(*args, "--pattern", "white") as s:
        first = Recorder()
        async with running_trigger(s.url(), first, media_type="video", processing_interval=0):
            await first.wait_for(20)  # about 1.3 s into the GOP
            late = Recorder()
            async with running_trigger(
                s.url(), late, media_type="video", processing_interval=0
            ) as trigger:
                await late.wait_for(3, timeout=30)
    for event in late.events:
        mean = simplejpeg.decode_jpeg(event.body).mean()
        assert mean >= 248, (event.get_field("frame_num"), mean)
    assert trigger.metrics.received.value >= 3


async def test_video_interval_hands_over_the_newest_frame():
    with gst_server("--video", "h264", "--size", "320x240", "--fps", "15") as s:
        recorder = Recorder()
        async with running_trigger(
            s.url(), recorder, media_type="video", processing_interval=400
        ) as trigger:
            await recorder.wait_for(4)
    nums = [e.get_field("frame_num") for e in recorder.events]
    gaps = np.diff(nums)
    assert (gaps >= 3).all(), nums  # 15 fps, one frame every 0.4 s: about 6 apart
    assert trigger.metrics.sampled.value >= 10


async def test_video_numpy_frames():
    with gst_server("--video", "h264", "--size", "352x288", "--fps", "15") as s:
        recorder = Recorder()
        async with running_trigger(
            s.url(), recorder, media_type="video", processing_interval=0, numpy=True
        ):
            await recorder.wait_for(3)
    body = recorder.events[-1].body
    assert recorder.events[-1].content_type == NDARRAY_CONTENT_TYPE
    assert isinstance(body, np.ndarray)
    assert body.shape == (288, 352, 3)
    assert body.dtype == np.uint8


@pytest.mark.parametrize("transport", ["udp", "auto"])
async def test_udp_and_auto_transport(transport):
    with gst_server("--video", "h264", "--size", "320x240") as s:
        recorder = Recorder()
        async with running_trigger(
            s.url(), recorder, media_type="video", processing_interval=0, transport=transport
        ):
            await recorder.wait_for(5)
    assert simplejpeg.decode_jpeg(recorder.events[-1].body).shape == (240, 320, 3)


@pytest.mark.parametrize("scheme", ["basic", "digest"])
async def test_credentials_in_the_url(scheme):
    auth = ("--user", "cam", "--password", "s3cret", "--auth", scheme)
    with gst_server("--video", "h264", *auth) as s:
        recorder = Recorder()
        async with running_trigger(
            s.url("cam:s3cret"), recorder, media_type="video", processing_interval=0
        ) as trigger:
            await recorder.wait_for(3)
            assert "s3cret" not in trigger.public_url
        assert recorder.events[0].get_field("url") == s.url("cam:***")
        wrong = Recorder()
        async with running_trigger(
            s.url("cam:wrong"), wrong, media_type="video", processing_interval=0
        ) as trigger:
            while trigger.metrics.reconnects.value < 2:
                await __import__("asyncio").sleep(0.1)
        assert wrong.events == []
