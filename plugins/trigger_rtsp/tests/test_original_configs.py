"""The original's own test configurations (``test/rtsp_audio-webhook/rtsp-processor.yaml``
and ``test/rtsp_video-webhook/rtsp-processor.yaml``, copied unchanged into ``original/``)
run with ``dh-serverless run`` against GStreamer's RTSP server, results to a webhook.

Only the two port numbers change (tests take free ports); the handlers are ours, without Whisper
and YOLO: the audio one finds the tone's frequency with numpy in the PCM the original hands
to Whisper, the video one opens each JPEG with Pillow as the original's does."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import simplejpeg
from aiohttp import web
from rtsp_peers import free_port, gst_server, needs_gst

from dh_serverless.testing.processes import RunningFunction

ORIGINAL = Path(__file__).resolve().parent / "original"
pytestmark = [needs_gst, pytest.mark.timeout(120)]


@contextlib.asynccontextmanager
async def webhook_receiver() -> AsyncIterator[tuple[int, list[tuple[dict[str, str], dict]]]]:
    """The original's webhook_test_server.py: POST /webhook, JSON bodies, recorded."""
    received: list[tuple[dict[str, str], dict]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.json()))
        return web.json_response({"status": "success"})

    app = web.Application()
    app.router.add_post("/webhook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield port, received
    finally:
        await runner.cleanup()


def _config(tmp_path: Path, name: str, handler: str, rtsp_port: int, hook_port: int) -> Path:
    text = (ORIGINAL / name).read_text()
    assert "rtsp_url: rtsp://localhost:8554/mystream" in text
    assert 'url: "http://localhost:8888/webhook"' in text
    text = text.replace("localhost:8554", f"localhost:{rtsp_port}")
    text = text.replace("localhost:8888", f"localhost:{hook_port}")
    (tmp_path / "test_handler.py").write_text((ORIGINAL / handler).read_text())
    path = tmp_path / "rtsp-processor.yaml"
    path.write_text(text)
    return path


async def _wait(received: list, count: int, function: RunningFunction, timeout: float) -> None:
    for _ in range(int(timeout * 10)):
        if len(received) >= count:
            return
        assert function.proc.poll() is None, function.log()
        await asyncio.sleep(0.1)
    raise AssertionError(f"{len(received)} webhook posts, expected {count}:\n{function.log()}")


async def test_rtsp_audio_webhook_as_written(tmp_path):
    args = ("--video", "none", "--audio", "l16", "--freq", "523.25", "--rate", "16000")
    with gst_server(*args, path="/mystream") as server:
        async with webhook_receiver() as (hook_port, received):
            config = _config(
                tmp_path, "rtsp_audio-webhook.yaml", "audio_handler.py", server.port, hook_port
            )
            async with RunningFunction(config) as function:
                await function.wait_ready()
                await _wait(received, 2, function, 30)  # processing_interval: 5000
                decoded = await function.metric("dh_rtsp_trigger_audio_seconds_total")
                assert await function.terminate() == 0
    headers, first = received[0]
    assert headers["X-API-Key"] == "test-api-key-12345"
    assert headers["Content-Type"] == "application/json"
    assert abs(first["frequency"] - 523.25) < 2
    assert first["sample_rate"] == 16000
    assert first["size"] >= 16000 * 2 * 4  # about five seconds of 16 kHz mono
    assert received[1][1]["size"] > first["size"]  # the rolling buffer keeps growing
    assert decoded >= 9


async def test_rtsp_video_webhook_as_written(tmp_path):
    with gst_server("--video", "h264", "--size", "640x480", "--fps", "15") as server:
        async with webhook_receiver() as (hook_port, received):
            config = _config(
                tmp_path, "rtsp_video-webhook.yaml", "video_handler.py", server.port, hook_port
            )
            async with RunningFunction(config) as function:
                await function.wait_ready()
                await _wait(received, 1, function, 30)
                frames = await function.metric("dh_rtsp_trigger_frames_received_total")
                sampled = await function.metric(
                    "dh_rtsp_trigger_events_dropped_total", reason="sampled"
                )
                assert await function.terminate() == 0
    _, payload = received[0]
    jpeg = base64.b64decode(payload["data"])
    assert payload["Frame Size"] == len(jpeg)
    assert simplejpeg.decode_jpeg(jpeg).shape == (480, 640, 3)
    assert payload["YOLO results"][0]["box"] == {"x1": 0, "y1": 0, "x2": 640, "y2": 480}
    # one frame every 5 s, the newest: about 15 fps x 5 s seen, all but one or two sampled out
    assert frames >= 30
    assert sampled >= frames - 3


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
async def test_the_original_configs_validate():
    for name in ("rtsp_audio-webhook.yaml", "rtsp_video-webhook.yaml"):
        proc = await asyncio.create_subprocess_exec(
            str(Path(__import__("sys").executable).parent / "dh-serverless"), "validate",
            str(ORIGINAL / name), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await proc.communicate()
        assert proc.returncode == 0, out
        assert b"myRtspTrigger (rtsp, sink webhook)" in out


_NUMPY_HANDLER = """
import numpy as np


def handler(context, event):
    frame = event.body
    assert isinstance(frame, np.ndarray), type(frame)
    return {"shape": list(frame.shape), "dtype": str(frame.dtype),
            "frame_num": event.get_field("frame_num"), "mean": float(frame.mean())}
"""


async def test_numpy_frames_reach_process_workers(tmp_path):
    with gst_server("--video", "h264", "--size", "320x240", "--fps", "15") as server:
        async with webhook_receiver() as (hook_port, received):
            text = (ORIGINAL / "rtsp_video-webhook.yaml").read_text()
            text = text.replace("localhost:8554", f"localhost:{server.port}")
            text = text.replace("localhost:8888", f"localhost:{hook_port}")
            text = text.replace(
                "processing_interval: 5000", "processing_interval: 200\n        numpy: true"
            )
            text = text.replace("  triggers:", "  workerKind: process\n  triggers:")
            (tmp_path / "test_handler.py").write_text(_NUMPY_HANDLER)
            config = tmp_path / "rtsp-processor.yaml"
            config.write_text(text)
            async with RunningFunction(config) as function:
                await function.wait_ready()
                await _wait(received, 3, function, 30)
                assert await function.terminate() == 0
    for _, payload in received:
        assert payload["shape"] == [240, 320, 3]
        assert payload["dtype"] == "uint8"
        assert 20 < payload["mean"] < 240
    nums = [payload["frame_num"] for _, payload in received]
    assert nums == sorted(nums)  # in order through the sink
