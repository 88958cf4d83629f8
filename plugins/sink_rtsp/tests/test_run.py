"""End to end: the runtime feeds a handler's frames to the rtsp sink, ffmpeg plays them.

The ``test`` trigger of ``dh_serverless.testing`` pushes JPEG frames at 30 fps; the
runtime runs the handler (it inverts the colours) on its workers and hands each result to
the sink, which serves them over RTSP to real ffmpeg clients.
"""

from __future__ import annotations

import asyncio
import textwrap

import numpy as np
import pytest
from rtsp_helpers import count_frames, grab, jpeg, picture, wait_until

from dh_serverless.testing import free_port
from dh_serverless.testing.function import InProcessFunction

HANDLER = '''
import simplejpeg


def handler(context, event):
    """Invert the colours of the posted JPEG and return it as a JPEG."""
    image = simplejpeg.decode_jpeg(event.body, colorspace="RGB")
    return context.Response(
        body=simplejpeg.encode_jpeg(255 - image, quality=95, colorsubsampling="420"),
        content_type="image/jpeg",
        status_code=200,
    )
'''


@pytest.fixture
def function(tmp_path):
    (tmp_path / "invert_rtsp.py").write_text(textwrap.dedent(HANDLER))
    port = free_port()
    sink = {"kind": "rtsp", "attributes": {"port": port, "host": "127.0.0.1",
            "path": "/processed", "type": "video"}}  # fmt: skip
    trigger = {"kind": "test", "maxWorkers": 2, "attributes": {"sink": sink}}
    return InProcessFunction(
        {"frames": trigger}, handler="invert_rtsp:handler", folder=tmp_path, name="invert"
    ), port


async def test_frames_reach_ffmpeg_through_the_rtsp_sink(function):
    running, port = function
    source = picture(320, 240, shift=7)
    frame = jpeg(source, quality=95)
    url = f"rtsp://127.0.0.1:{port}/processed"
    async with running:

        async def push_frames():
            loop = asyncio.get_running_loop()
            start, sent = loop.time(), 0
            while True:
                response = await running.push(frame, "image/jpeg", frame_num=sent)
                assert response.status_code == 200
                assert response.content_type == "image/jpeg"
                sent += 1
                await asyncio.sleep(max(0.0, start + sent / 30 - loop.time()))

        pusher = asyncio.ensure_future(push_frames())
        try:
            result = await count_frames(url, "tcp", 3)
            assert result.code == 0, result.err
            assert result.frames >= 0.9 * 30 * 3
            assert result.complaints == []
            grabbed = await grab(url, skip=3)
            watching = asyncio.ensure_future(count_frames(url, "udp", 3))
            await wait_until(lambda: watching.done(), 1.5)
            metrics = running.metrics_text()
            await watching
        finally:
            pusher.cancel()
            await asyncio.gather(pusher, return_exceptions=True)
    out = running.log()
    assert f"serving rtsp://127.0.0.1:{port}/processed" in out
    assert "did not stop cleanly" not in out
    inverted = (255 - source).astype(int)
    assert np.abs(grabbed.reshape(240, 320, 3).astype(int) - inverted).mean() < 4
    lines = dict(
        line.rsplit(" ", 1) for line in metrics.splitlines() if line.startswith("dh_rtsp_")
    )
    assert lines['dh_rtsp_viewers{trigger="frames"}'] == "1.0"
    assert float(lines['dh_rtsp_frames_encoded_total{codec="h264",trigger="frames"}']) > 90
    assert float(lines['dh_rtsp_sent_bytes_total{trigger="frames"}']) > 10_000
    assert float(lines['dh_rtsp_encode_seconds_count{trigger="frames"}']) > 90
    assert 'dh_rtsp_dropped_packets_total{trigger="frames"}' in lines
