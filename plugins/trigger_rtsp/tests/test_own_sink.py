"""The trigger reading our own rtsp sink: a function whose ``test`` trigger feeds the sink
(``dh_sink_function``) with a tone's PCM (``type: audio``) or with JPEG frames (H.264 and
JPEG codecs); the rtsp trigger reads what the sink serves over real RTSP."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
import simplejpeg
from rtsp_peers import Recorder, dominant_frequency, free_port, running_trigger

pytest.importorskip("dh_serverless.sinks.rtsp")
pytestmark = [pytest.mark.timeout(120)]


@contextlib.asynccontextmanager
async def feeding(
    function: Any, pieces: list[bytes], every: float, content_type: str
) -> AsyncIterator[None]:
    """Push ``pieces`` round and round, one every ``every`` seconds, while the test runs."""

    async def feed() -> None:
        n = 0
        while True:
            await function.push(pieces[n % len(pieces)], content_type)
            n += 1
            await asyncio.sleep(every)

    task = asyncio.ensure_future(feed())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_audio_from_our_rtsp_sink(dh_sink_function):
    port = free_port()
    sink = {"kind": "rtsp", "attributes": {
        "port": port, "host": "127.0.0.1", "path": "/audio",
        "type": "audio", "sample_rate": 22050, "channels": 1}}  # fmt: skip
    function = await dh_sink_function(sink)
    t = np.arange(2205) / 22050  # 100 ms pieces of a continuous 750 Hz tone
    pieces = [
        (np.sin(2 * np.pi * 750 * (t + k * 0.1)) * 10000).astype("<i2").tobytes() for k in range(10)
    ]
    recorder = Recorder()
    async with (
        feeding(function, pieces, 0.1, "application/octet-stream"),
        running_trigger(
            f"rtsp://127.0.0.1:{port}/audio", recorder, processing_interval=500,
            chunk_bytes=16000,
        ),
    ):  # fmt: skip
        await recorder.wait_for(3, timeout=30)
    pcm = np.frombuffer(recorder.events[-1].body, "<i2")
    assert recorder.events[-1].get_field("sample_rate") == 16000  # resampled from 22050
    assert len(pcm) >= 16000
    assert abs(dominant_frequency(pcm, 16000) - 750) < 3


@pytest.mark.parametrize("codec", ["h264", "jpeg"])
async def test_video_from_our_rtsp_sink(dh_sink_function, codec):
    port = free_port()
    attributes = {"port": port, "host": "127.0.0.1", "path": "/video", "codec": codec, "fps": 20}
    sink = {"kind": "rtsp", "attributes": attributes}
    function = await dh_sink_function(sink)
    frames = []
    for k in range(10):
        image = np.zeros((240, 320, 3), np.uint8)
        image[:, 32 * k : 32 * (k + 1)] = (255, 255, 255)  # a white bar moving right
        frames.append(simplejpeg.encode_jpeg(image, 90, colorsubsampling="420"))
    recorder = Recorder()
    async with (
        feeding(function, frames, 0.05, "image/jpeg"),
        running_trigger(
            f"rtsp://127.0.0.1:{port}/video", recorder, media_type="video", processing_interval=0
        ),
    ):
        await recorder.wait_for(10, timeout=30)
    for event in recorder.events[2:]:
        rgb = simplejpeg.decode_jpeg(event.body)
        assert rgb.shape == (240, 320, 3)
        column = rgb.mean(axis=(0, 2))
        assert column.max() > 200
        assert column.min() < 40
