"""Real viewers: ffprobe and ffmpeg over TCP and UDP, several at once, coming and going."""

from __future__ import annotations

import asyncio
import json
import logging

import av
import numpy as np
import pytest
from rtsp_helpers import count_frames, grab, jpeg, picture, probe, serving

from dh_serverless.sinks.rtsp import AuthConfig


def _stream(run):
    assert run.code == 0, run.err
    streams = json.loads(run.out)["streams"]
    assert len(streams) == 1
    return streams[0]


@pytest.mark.parametrize("transport", ["tcp", "udp"])
async def test_ffprobe_reports_codec_and_size(transport):
    async with serving() as (sink, _):
        stream = _stream(await probe(sink.url, "-rtsp_transport", transport))
        assert stream["codec_name"] == "h264"
        assert (stream["width"], stream["height"]) == (640, 480)
        assert stream["profile"] == "Constrained Baseline"


@pytest.mark.parametrize("transport", ["tcp", "udp"])
async def test_ffmpeg_decodes_fps_times_5_frames_without_complaints(transport):
    async with serving() as (sink, feeder):
        mark = feeder.mark()
        result = await count_frames(sink.url, transport, 5)
        assert result.code == 0, result.err
        assert result.frames >= 0.9 * feeder.rate_since(mark) * 5, result.err[-2000:]
        assert result.complaints == [], result.err[-2000:]
        assert feeder.errors == []


async def test_three_viewers_at_once():
    async with serving() as (sink, feeder):
        mark = feeder.mark()
        results = await asyncio.gather(
            count_frames(sink.url, "tcp", 4),
            count_frames(sink.url, "udp", 4),
            count_frames(sink.url, "tcp", 4),
        )
        rate = feeder.rate_since(mark)
        for transport, result in zip(("tcp", "udp", "tcp"), results, strict=True):
            assert result.code == 0, result.err
            assert result.frames >= 0.9 * rate * 4, (transport, rate, result.err[-1500:])
            assert result.complaints == []
        await asyncio.sleep(0.3)
        assert sink.server.playing == []


async def test_a_viewer_that_leaves_and_rejoins_while_another_watches():
    async with serving() as (sink, feeder):
        mark = feeder.mark()
        watcher = asyncio.ensure_future(count_frames(sink.url, "tcp", 6))
        first = await count_frames(sink.url, "udp", 1.5)
        await asyncio.sleep(0.5)
        again = await count_frames(sink.url, "udp", 1.5)
        for result in (first, again, await watcher):
            assert result.code == 0, result.err
            assert result.complaints == []
        rate = feeder.rate_since(mark)
        assert first.frames >= 0.9 * rate * 1.5
        assert again.frames >= 0.9 * rate * 1.5
        assert (await watcher).frames >= 0.9 * rate * 6


async def test_keep_alive_past_the_session_timeout(caplog):
    caplog.set_level(logging.DEBUG, "test.rtsp")
    async with serving(session_timeout=3) as (sink, feeder):
        mark = feeder.mark()
        result = await count_frames(sink.url, "udp", 8)
        assert result.code == 0, result.err
        assert result.frames >= 0.9 * feeder.rate_since(mark) * 8
        assert "silent" not in caplog.text
        assert caplog.text.count("GET_PARAMETER") >= 2


async def test_grabbed_frame_matches_the_handler_output():
    source = picture(640, 480, shift=3)
    async with serving([jpeg(source, quality=95)]) as (sink, _):
        frame = await grab(sink.url)
    got = frame.reshape(480, 640, 3).astype(int)
    difference = np.abs(got - source.astype(int)).mean()
    assert difference < 4, difference


async def test_frame_size_change_mid_stream():
    small = [jpeg(picture(320, 240, shift=i)) for i in range(30)]
    async with serving() as (sink, feeder):
        mark = feeder.mark()
        watcher = asyncio.ensure_future(count_frames(sink.url, "tcp", 4))
        await asyncio.sleep(2.5)
        feeder.frames = small
        result = await watcher
        assert result.code == 0, result.err
        assert "640x480" in result.err
        assert result.frames >= 0.8 * feeder.rate_since(mark) * 4
        assert feeder.errors == []
        stream = _stream(await probe(sink.url, "-rtsp_transport", "tcp"))
        assert (stream["width"], stream["height"]) == (320, 240)


async def test_odd_sized_and_array_frames_are_streamed():
    frames = [picture(321, 243, shift=i) for i in range(10)]  # arrays, odd sides
    async with serving(frames) as (sink, feeder):
        stream = _stream(await probe(sink.url, "-rtsp_transport", "tcp"))
        assert (stream["width"], stream["height"]) == (320, 242)
        assert feeder.errors == []


@pytest.mark.parametrize(("subsampling", "passthrough"), [("420", True), ("444", False)])
async def test_jpeg_codec(subsampling, passthrough):
    source = picture(640, 480, shift=5)
    async with serving([jpeg(source, subsampling, quality=95)], codec="jpeg") as (sink, feeder):
        stream = _stream(await probe(sink.url, "-rtsp_transport", "udp"))
        assert stream["codec_name"] == "mjpeg"
        assert (stream["width"], stream["height"]) == (640, 480)
        # ~60 packets a frame: count over TCP, where nothing is lost (UDP may drop bursts)
        mark = feeder.mark()
        result = await count_frames(sink.url, "tcp", 3)
        assert result.code == 0, result.err
        assert result.frames >= 0.9 * feeder.rate_since(mark) * 3
        assert result.complaints == []
        frame = await grab(sink.url)
    assert (sink.codec.passed > 0, sink.codec.reencoded > 0) == (passthrough, not passthrough)
    difference = np.abs(frame.reshape(480, 640, 3).astype(int) - source.astype(int)).mean()
    assert difference < 4, difference


async def test_ffmpeg_rejects_a_wrong_password_and_accepts_the_right_one():
    for scheme in ("basic", "digest"):
        auth = AuthConfig("viewer", "s3cret", scheme)
        async with serving(auth=auth) as (sink, _):
            good = sink.url.replace("rtsp://", "rtsp://viewer:s3cret@")
            bad = sink.url.replace("rtsp://", "rtsp://viewer:wrong@")
            assert _stream(await probe(good, "-rtsp_transport", "tcp"))["codec_name"] == "h264"
            denied = await probe(bad, "-rtsp_transport", "tcp")
            assert denied.code != 0
            assert "401" in denied.err


async def test_pyav_client_decodes_frames():
    def watch(url: str) -> list[tuple[int, int]]:
        options = {"rtsp_transport": "tcp", "timeout": "5000000"}
        with av.open(url, options=options) as container:
            sizes = []
            for frame in container.decode(video=0):
                sizes.append((frame.width, frame.height))
                if len(sizes) == 30:
                    break
            return sizes

    async with serving() as (sink, _):
        sizes = await asyncio.wait_for(asyncio.to_thread(watch, sink.url), 20)
    assert sizes == [(640, 480)] * 30
