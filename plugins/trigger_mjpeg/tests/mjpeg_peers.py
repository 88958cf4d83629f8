"""Real peers for the mjpeg tests: an ffmpeg MJPEG source, a quirk server, a running function.

Everything listens on 127.0.0.1 on an ephemeral port, and every process is stopped by PID.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from mjpeg_quirks import build_variant, make_frames

from dh_serverless.hookspecs import Event, FunctionInfo, Response, TriggerSpec
from dh_serverless.testing import FakeDispatch, free_port
from dh_serverless.testing.processes import FunctionProcess, stop_process
from dh_serverless.triggers.mjpeg import MjpegAttributes, MjpegTrigger

FFMPEG = "ffmpeg"
BIN = Path(sys.executable).parent


def ffmpeg_source_args(
    port: int,
    *,
    size: str = "320x240",
    rate: int = 30,
    content_type: bool = True,
    seconds: int = 60,
) -> list[str]:
    """``ffmpeg -f lavfi -i testsrc ... -f mpjpeg -listen 1``: serves one client, once."""
    args = [FFMPEG, "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi"]
    args += ["-i", f"testsrc2=size={size}:rate={rate}", "-t", str(seconds), "-q:v", "5"]
    args += ["-f", "mpjpeg"]
    if content_type:
        args += ["-content_type", "multipart/x-mixed-replace;boundary=ffmpeg"]
    return [*args, "-listen", "1", f"http://127.0.0.1:{port}/"]


@contextlib.contextmanager
def process(args: list[str], **kwargs: Any) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``args``; on exit terminate it by PID (then kill) and reap it."""
    proc = subprocess.Popen(args, **kwargs)
    try:
        yield proc
    finally:
        stop_process(proc)


def ffmpeg_source(port: int, **kwargs: Any) -> contextlib.AbstractContextManager[Any]:
    return process(
        ffmpeg_source_args(port, **kwargs), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


# ---------------------------------------------------------------------------
# The quirk server: /v/<variant> per matrix row, /stall/<n>: n frames then silence
# ---------------------------------------------------------------------------

QUIRK_FRAMES = make_frames(12)
MP_TYPE = "multipart/x-mixed-replace; boundary=myboundary"
STALLS = web.AppKey("stalls", list[int])


async def _variant(request: web.Request) -> web.StreamResponse:
    ctype, body, _ = build_variant(request.match_info["variant"], QUIRK_FRAMES)
    resp = web.StreamResponse(headers={"Content-Type": ctype})
    await resp.prepare(request)
    for i in range(0, len(body), 997):  # delimiters and headers straddle reads
        await resp.write(body[i : i + 997])
        await asyncio.sleep(0)
    await resp.write_eof()
    return resp


async def _stall(request: web.Request) -> web.StreamResponse:
    count = int(request.match_info["count"])
    ctype, body, _ = build_variant("plain", QUIRK_FRAMES[:count])
    resp = web.StreamResponse(headers={"Content-Type": ctype})
    await resp.prepare(request)
    await resp.write(body)
    request.app[STALLS][0] += 1
    await asyncio.sleep(3600)  # connected, silent: a stalled camera
    return resp


async def _junk(request: web.Request) -> web.StreamResponse:
    """Connected and sending, but never a frame."""
    request.app[STALLS][0] += 1
    resp = web.StreamResponse(headers={"Content-Type": MP_TYPE})
    await resp.prepare(request)
    while True:
        await resp.write(b"--myboundary\r\nContent-Type: text/plain\r\n\r\nnot a frame\r\n")
        await asyncio.sleep(0.05)


async def _auth(request: web.Request) -> web.StreamResponse:
    if request.headers.get("Authorization") != "Basic " + base64.b64encode(b"cam:s3cret").decode():
        return web.Response(status=401)
    if request.headers.get("X-Api-Key") != "k1":
        return web.Response(status=403)
    return await _variant(request)


@contextlib.asynccontextmanager
async def quirk_server() -> AsyncIterator[tuple[str, web.Application]]:
    app = web.Application()
    app[STALLS] = [0]
    app.router.add_get("/v/{variant}", _variant)
    app.router.add_get("/stall/{count}", _stall)
    app.router.add_get("/auth/{variant}", _auth)
    app.router.add_get("/junk", _junk)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        await runner.cleanup()


# ---------------------------------------------------------------------------
# A trigger with a recording dispatch
# ---------------------------------------------------------------------------


class Recorder(FakeDispatch):
    """The testing kit's ``FakeDispatch``, answering each frame with itself (after ``delay`` s)."""

    def __init__(self, delay: float = 0.0) -> None:
        async def answer(event: Event) -> Response:
            if delay:
                await asyncio.sleep(delay)
            return Response(body=event.body, content_type="image/jpeg")

        super().__init__(answer)

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Event]:
        """The first ``count`` events, once they arrived."""
        return await super().wait_for(count, timeout)


@contextlib.asynccontextmanager
async def running_trigger(
    url: str, dispatch: Any, *, workers: int = 64, **attributes: Any
) -> AsyncIterator[MjpegTrigger]:
    attributes.setdefault("reconnect_delay", 0.2)
    spec = TriggerSpec(
        name="cam",
        kind="mjpeg",
        attributes=MjpegAttributes(url=url, **attributes),
        function=FunctionInfo("test"),
        workers=workers,
    )
    trigger = MjpegTrigger(spec)
    await trigger.start(dispatch)
    try:
        yield trigger
    finally:
        await trigger.stop(2.0)


# ---------------------------------------------------------------------------
# A whole function, run as a user runs it
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def dh_run(function_yaml: Path, health_port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``dh-serverless run function.yaml`` in its folder; SIGTERM by PID on exit."""
    with FunctionProcess(function_yaml, health_port=health_port, log_path=log) as function:
        yield function.proc


def count_frames(url: str, seconds: float, *extra: str) -> int:
    """Frames ffmpeg decodes from ``url`` in ``seconds`` (wall clock)."""
    args = [FFMPEG, "-hide_banner", "-nostats", "-progress", "pipe:2", *extra, "-i", url]
    args += ["-f", "null", "-"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _, err = proc.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        stop_process(proc, signal.SIGINT)  # ffmpeg prints its final progress on SIGINT
        err = proc.stderr.read() if proc.stderr else b""
    found = re.findall(rb"frame=\s*(\d+)", err)
    return int(found[-1]) if found else 0


async def scrape(port: int) -> str:
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/metrics") as r:
        return await r.text()


def metric(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise KeyError(f"{name}{labels} not in /metrics")


async def read_parts(url: str, seconds: float, connect_timeout: float = 10.0) -> list[bytes]:
    """A viewer of an mjpeg sink: the JPEG parts it receives in ``seconds``."""
    parts: list[bytes] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + connect_timeout
    while True:
        try:
            session = aiohttp.ClientSession()
            resp = await session.get(url)
            break
        except aiohttp.ClientConnectionError:
            await session.close()
            assert loop.time() < deadline, f"{url} never answered"
            await asyncio.sleep(0.1)
    try:
        assert resp.status == 200
        end = loop.time() + seconds
        reader = resp.content
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while loop.time() < end:
                    line = await reader.readline()
                    if not line.startswith(b"--"):
                        continue
                    length = 0
                    while (line := (await reader.readline()).strip()) != b"":
                        name, _, value = line.decode().partition(":")
                        if name.lower() == "content-length":
                            length = int(value)
                    parts.append(await reader.readexactly(length))
    finally:
        resp.close()
        await session.close()
    return parts


def write_function(folder: Path, yaml_text: str, handler: str) -> Path:
    (folder / "handler.py").write_text(handler)
    path = folder / "function.yaml"
    path.write_text(yaml_text)
    return path


async def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Until the function's ``/ready`` answers 200 (the process must stay alive)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession() as s:
        while True:
            assert proc.poll() is None, "dh-serverless exited"
            with contextlib.suppress(aiohttp.ClientError):
                async with s.get(f"http://127.0.0.1:{port}/ready") as r:
                    if r.status == 200:
                        return
            assert loop.time() < deadline, "the function never became ready"
            await asyncio.sleep(0.1)
