"""The mjpeg sink with real viewers: ffmpeg/ffprobe, a slow socket beside a fast one,
headless Chromium on the viewer page."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import numpy as np
import pytest
import simplejpeg

from dh_serverless.hookspecs import Event, Response, SinkSpec
from dh_serverless.sinks.mjpeg import MjpegSink, MjpegSinkAttributes

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def frame(i: int, width: int = 320, height: int = 240) -> bytes:
    y, x = np.mgrid[0:height, 0:width]
    img = np.empty((height, width, 3), np.uint8)
    img[..., 0] = (x + i * 8) % 256
    img[..., 1] = (y + i * 4) % 256
    img[..., 2] = (i * 40) % 256
    return simplejpeg.encode_jpeg(img, quality=80, colorsubsampling="420")


FRAMES = [frame(i) for i in range(30)]


def numbered_frame(n: int, width: int = 320, height: int = 240) -> bytes:
    """A frame unlike any other of the first 65,536: its number in two colour planes, over a
    moving gradient."""
    x = np.mgrid[0:height, 0:width][1]
    img = np.empty((height, width, 3), np.uint8)
    img[..., 0] = (x + n * 8) % 256
    img[..., 1] = (n // 256) % 256
    img[..., 2] = n % 256
    return simplejpeg.encode_jpeg(img, quality=80, colorsubsampling="420")


async def until(condition, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


def event(n: int) -> Event:
    now = datetime.datetime.now(datetime.UTC)
    return Event(body=b"", fields={"frame_num": n}, timestamp=now)


@contextlib.asynccontextmanager
async def running_sink(**attributes) -> AsyncIterator[MjpegSink]:
    attributes.setdefault("port", 0)
    attributes.setdefault("host", "127.0.0.1")
    sink = MjpegSink(SinkSpec("mjpeg", "cam", MjpegSinkAttributes(**attributes)))
    await sink.start()
    try:
        yield sink
    finally:
        await sink.stop()


async def publish(
    sink: MjpegSink, seconds: float, fps: float = 30, size: int = 0, *, unique: bool = False
) -> int:
    """Emit frames at ``fps`` for ``seconds``; return how many. The frames repeat every 30
    (8 for ``size``), unless ``unique``: then no two are the same (:func:`numbered_frame`)."""
    n = 0
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    frames = FRAMES if not size else [frame(i, 1280, 720) for i in range(8)]
    while loop.time() < end:
        n += 1
        body = numbered_frame(n) if unique else frames[n % len(frames)]
        await sink.emit(Response(body=body, content_type="image/jpeg"), event(n))
        await asyncio.sleep(1 / fps)
    return n


async def run_tool(*args: str, timeout: float) -> tuple[int, str]:
    """Run a tool in its own process group; on timeout, or if it leaves helpers behind
    (Chromium's renderers), that group is killed."""
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = await proc.communicate()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode or 0, out.decode(errors="replace")


@needs_ffmpeg
async def test_ffmpeg_counts_the_restreamed_frames():
    async with running_sink(path="/processed") as sink:
        url = f"http://127.0.0.1:{sink.port}/processed"
        ff = asyncio.ensure_future(
            run_tool(
                "ffmpeg",
                "-hide_banner",
                "-i",
                url,
                "-frames:v",
                "60",
                "-f",
                "null",
                "-",
                timeout=20,
            )
        )
        probe = asyncio.ensure_future(
            run_tool("ffprobe", "-hide_banner", "-show_streams", "-of", "json", url, timeout=20)
        )
        while not (ff.done() and probe.done()):
            await publish(sink, 0.5)
        code, out = ff.result()
        assert code == 0, out
        frames = [
            int(line.split("frame=")[1].split()[0])
            for line in out.replace("\r", "\n").splitlines()
            if "frame=" in line
        ]
        assert frames[-1] == 60
        code, out = probe.result()
        streams = json.loads(out[out.index("{") :])["streams"]
        assert streams[0]["codec_name"] == "mjpeg"
        assert (streams[0]["width"], streams[0]["height"]) == (320, 240)


async def read_parts(url: str, count: int, stop: asyncio.Event | None = None) -> list[bytes]:
    """A viewer: read up to ``count`` JPEG parts by their Content-Length (until ``stop``)."""
    parts: list[bytes] = []
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "multipart/x-mixed-replace; boundary=frame"
        reader = r.content
        while len(parts) < count and not (stop is not None and stop.is_set()):
            line = await reader.readline()
            if line.strip() != b"--frame":
                continue
            headers = {}
            while (line := (await reader.readline()).strip()) != b"":
                name, _, value = line.decode().partition(":")
                headers[name.lower()] = value.strip()
            assert headers["content-type"] == "image/jpeg"
            parts.append(await reader.readexactly(int(headers["content-length"])))
    return parts


async def test_each_viewer_gets_whole_frames():
    async with running_sink() as sink:
        url = f"http://127.0.0.1:{sink.port}/stream"
        viewers = [asyncio.ensure_future(read_parts(url, 20)) for _ in range(3)]
        while not all(v.done() for v in viewers):
            await publish(sink, 0.3)
        for v in viewers:
            assert all(p in FRAMES for p in v.result())


async def test_a_slow_viewer_loses_frames_and_never_slows_a_fast_one():
    big = [frame(i, 1280, 720) for i in range(6)]
    async with running_sink(send_buffer=65536) as sink:
        slow = socket.create_connection(("127.0.0.1", sink.port))
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        slow.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        slow.setblocking(False)
        stop = asyncio.Event()
        fast = asyncio.ensure_future(
            read_parts(f"http://127.0.0.1:{sink.port}/stream", 10**6, stop)
        )
        await until(lambda: sink.viewers >= 2)
        loop = asyncio.get_running_loop()
        slow_bytes = emitted = 0
        end = loop.time() + 3
        while loop.time() < end:
            emitted += 1
            body = big[emitted % 6]
            await sink.emit(Response(body=body, content_type="image/jpeg"), event(emitted))
            await asyncio.sleep(1 / 30)
            with contextlib.suppress(BlockingIOError):
                slow_bytes += len(slow.recv(2000))  # ~60 KB/s, a tenth of the stream's rate
        await asyncio.sleep(0.2)
        stop.set()
        await sink.emit(Response(body=big[0], content_type="image/jpeg"), event(emitted + 1))
        fast_frames = await asyncio.wait_for(fast, 5)
        slow.close()
    stream_bytes = sum(len(f) for f in fast_frames)
    assert len(fast_frames) >= 0.9 * emitted, (len(fast_frames), emitted)
    # everything the slow viewer holds or received: its socket buffers, never a backlog
    assert slow_bytes < stream_bytes / 4, (slow_bytes, stream_bytes)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
async def test_the_viewer_page_shows_a_live_image_in_chromium():
    async with running_sink() as sink:
        page = f"http://127.0.0.1:{sink.port}/"
        # frames flow until both screenshots are taken, however long Chromium takes
        # (unique frames: two screenshots a whole cycle of 30 frames apart would look alike)
        feeder = asyncio.ensure_future(publish(sink, 600, unique=True))
        try:
            with tempfile.TemporaryDirectory() as tmp:
                shots = []
                for name in ("a.png", "b.png"):
                    out = Path(tmp) / name
                    _code, log = await run_tool(
                        CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
                        "--disable-background-networking", "--disable-dev-shm-usage",
                        "--no-first-run", f"--user-data-dir={tmp}/profile-{name}",
                        "--window-size=400,300", "--timeout=2500", f"--screenshot={out}", page,
                        timeout=40,
                    )  # fmt: skip
                    assert out.exists(), log
                    shots.append(read_png(out))
                    await asyncio.sleep(0.5)
        finally:
            feeder.cancel()
    a, b = (shot[70:230, 10:310] for shot in shots)  # the image, below the overlay
    assert a.std() > 10  # not a blank page
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 1  # the image moved


def read_png(path: Path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"))


async def test_a_port_in_use_is_a_clear_error():
    from dh_serverless.core.errors import UserError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        sink = MjpegSink(SinkSpec("mjpeg", "cam", MjpegSinkAttributes(port=port, host="127.0.0.1")))
        with pytest.raises(UserError, match=f"mjpeg sink cannot listen on 127.0.0.1:{port}"):
            await sink.start()


async def test_non_jpeg_results_are_skipped_and_stats_report_the_stream():
    async with running_sink() as sink:
        await sink.emit(Response(body=b'{"objects": 3}', content_type="application/json"), event(1))
        await sink.emit(Response(body=FRAMES[0], content_type="image/jpeg"), event(2))
        async with (
            aiohttp.ClientSession() as s,
            s.get(f"http://127.0.0.1:{sink.port}/stats") as r,
        ):
            stats = await r.json()
        async with (
            aiohttp.ClientSession() as s,
            s.get(f"http://127.0.0.1:{sink.port}/") as r,
        ):
            page = await r.text()
            assert r.headers["Content-Type"].startswith("text/html")
    assert stats["frames"] == 1
    assert stats["frame_num"] == 2
    assert stats["age_ms"] >= 0
    assert '<img id="video" src="stream?lowlatency=1"' in page
    assert (
        sink.spec.metrics.counter("dh_mjpeg_sink_frames_skipped", "", ("trigger", "reason"))
        .labels("cam", "not_jpeg")
        .value
        == 1
    )


async def test_a_viewer_that_reads_nothing_is_disconnected_after_write_timeout():
    big = [frame(i, 1280, 720) for i in range(4)]
    async with running_sink(send_buffer=32768, write_timeout=1.0) as sink:
        stuck = socket.create_connection(("127.0.0.1", sink.port))
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        stuck.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        await until(lambda: sink.viewers == 1)
        for n in range(120):  # 4 s at 30 fps; the viewer never reads
            await sink.emit(Response(body=big[n % 4], content_type="image/jpeg"), event(n))
            await asyncio.sleep(1 / 30)
            if sink.viewers == 0:
                break
        assert sink.viewers == 0
        stuck.close()
