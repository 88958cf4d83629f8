"""End to end: ``dh-serverless run`` with the http trigger feeding the rtsp sink."""

from __future__ import annotations

import asyncio
import textwrap

import numpy as np
import pytest
from rtsp_helpers import count_frames, grab, jpeg, picture, wait_until

from dh_serverless.testing import free_port
from dh_serverless.testing.processes import RunningFunction

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

FUNCTION = """
apiVersion: nuclio.io/v1
kind: NuclioFunction
metadata:
  name: invert
spec:
  handler: invert:handler
  runtime: python:3.11
  triggers:
    frames:
      kind: http
      maxWorkers: 2
      attributes:
        port: {http}
        host: 127.0.0.1
        sink:
          kind: rtsp
          attributes:
            port: {rtsp}
            host: 127.0.0.1
            path: "/processed"
            type: "video"
"""


@pytest.fixture
def function(tmp_path):
    (tmp_path / "invert.py").write_text(textwrap.dedent(HANDLER))
    ports = {"http": free_port(), "rtsp": free_port(), "health": free_port()}
    (tmp_path / "function.yaml").write_text(FUNCTION.format(**ports))
    return tmp_path, ports


async def test_http_frames_reach_ffmpeg_through_the_rtsp_sink(function):
    folder, ports = function
    source = picture(320, 240, shift=7)
    frame = jpeg(source, quality=95)
    url = f"rtsp://127.0.0.1:{ports['rtsp']}/processed"
    async with RunningFunction(
        folder / "function.yaml", health_port=ports["health"], env={"PYTHONPATH": str(folder)}
    ) as running:
        await running.wait_ready(timeout=20)
        client = running.session

        async def post_frames():
            loop = asyncio.get_running_loop()
            start, sent = loop.time(), 0
            while True:
                async with client.post(f"http://127.0.0.1:{ports['http']}/", data=frame) as r:
                    assert r.status == 200
                    assert r.headers["Content-Type"] == "image/jpeg"
                    await r.read()
                sent += 1
                await asyncio.sleep(max(0.0, start + sent / 30 - loop.time()))

        poster = asyncio.ensure_future(post_frames())
        try:
            result = await count_frames(url, "tcp", 3)
            assert result.code == 0, result.err
            assert result.frames >= 0.9 * 30 * 3
            assert result.complaints == []
            grabbed = await grab(url, skip=3)
            watching = asyncio.ensure_future(count_frames(url, "udp", 3))
            await wait_until(lambda: watching.done(), 1.5)
            metrics = await running.metrics_text()
            await watching
        finally:
            poster.cancel()
            await asyncio.gather(poster, return_exceptions=True)
        code = await running.terminate(timeout=15)
        out = running.log()
    assert code == 0, out
    assert f"serving rtsp://127.0.0.1:{ports['rtsp']}/processed" in out
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
