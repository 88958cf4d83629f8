"""Helpers of the rtsp sink's tests: a fed sink, ffmpeg/ffprobe viewers, a raw client.

Imported as ``rtsp_helpers`` (``conftest.py`` puts this folder on ``sys.path``; the
unique name keeps it apart from other distributions' test helpers)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shutil
import time
from collections.abc import AsyncIterator
from typing import Any

import attrs
import numpy as np
import simplejpeg

from dh_serverless.hookspecs import Event, Response, SinkSpec
from dh_serverless.sinks.rtsp import RtspAttributes, RtspSink

FFMPEG = shutil.which("ffmpeg") or "ffmpeg"
FFPROBE = shutil.which("ffprobe") or "ffprobe"
COMPLAINTS = re.compile(
    r"non-existing PPS|decode_slice_header|error while decoding|concealing|corrupt|"
    r"error dc|error y=|Invalid data",
    re.IGNORECASE,
)


def picture(width: int = 640, height: int = 480, shift: int = 0) -> np.ndarray:
    """A smooth colour picture that moves with ``shift`` (easy to compress, easy to see)."""
    y, x = np.mgrid[0:height, 0:width]
    red = (x * 255 // max(width - 1, 1) + shift * 4) % 256
    green = (y * 255 // max(height - 1, 1) + shift * 2) % 256
    blue = ((x + y) // 8 + shift) % 256
    return np.stack([red, green, blue], axis=-1).astype(np.uint8)


def jpeg(image: np.ndarray, subsampling: str = "420", quality: int = 85) -> bytes:
    return simplejpeg.encode_jpeg(image, quality=quality, colorsubsampling=subsampling)


class Feeder:
    """Emits frames into a sink at ``fps`` from a background task, as the core would."""

    def __init__(self, sink: RtspSink, frames: list[Any], fps: int) -> None:
        self.sink = sink
        self.frames = frames
        self.fps = fps
        self.sent = 0
        self.errors: list[BaseException] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        while True:
            body = self.frames[self.sent % len(self.frames)]
            try:
                await self.sink.emit(Response(body=body), Event())
            except Exception as exc:  # noqa: BLE001 - the test asserts on these
                self.errors.append(exc)
            self.sent += 1
            await asyncio.sleep(max(0.0, start + self.sent / self.fps - loop.time()))

    def mark(self) -> tuple[float, int]:
        """Now and the frames sent so far, for :meth:`rate_since`."""
        return time.monotonic(), self.sent

    def rate_since(self, mark: tuple[float, int]) -> float:
        """Frames per second really emitted since ``mark`` (less than ``fps`` when the
        machine is too busy to keep the pace): what a viewer can at most receive."""
        elapsed = time.monotonic() - mark[0]
        return min(float(self.fps), (self.sent - mark[1]) / elapsed) if elapsed > 0 else 0.0

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def make_sink(**changes: Any) -> RtspSink:
    attributes = attrs.evolve(RtspAttributes(port=0, host="127.0.0.1"), **changes)
    return RtspSink(SinkSpec("rtsp", "camera", attributes, logging.getLogger("test.rtsp")))


@contextlib.asynccontextmanager
async def serving(
    frames: list[Any] | None = None, fps: int = 30, **changes: Any
) -> AsyncIterator[tuple[RtspSink, Feeder]]:
    """A started sink on a free port, fed with ``frames`` (default: a moving 640x480)."""
    if frames is None:
        frames = [jpeg(picture(shift=i)) for i in range(30)]
    sink = make_sink(fps=fps, **changes)
    await sink.start()
    feeder = Feeder(sink, frames, fps)
    feeder.start()
    try:
        yield sink, feeder
    finally:
        await feeder.stop()
        await sink.stop()


@attrs.frozen
class Run:
    code: int
    out: bytes
    err: str

    @property
    def frames(self) -> int:
        counts = re.findall(r"frame=\s*(\d+)", self.err)
        return int(counts[-1]) if counts else 0

    @property
    def complaints(self) -> list[str]:
        return [line for line in self.err.splitlines() if COMPLAINTS.search(line)]


async def run(*args: str, timeout: float = 30.0) -> Run:
    """Run a command, kill it (by PID) if it outlives ``timeout``, collect its output."""
    process = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return Run(process.returncode or 0, out, err.decode(errors="replace").replace("\r", "\n"))


async def count_frames(url: str, transport: str, seconds: float = 5, *extra: str) -> Run:
    """``ffmpeg -rtsp_transport T -i URL -t S -f null -``: the frames it decoded."""
    return await run(
        FFMPEG, "-hide_banner", "-nostdin", "-rtsp_transport", transport, *extra,
        "-i", url, "-t", str(seconds), "-f", "null", "-",
        timeout=seconds + 25,
    )  # fmt: skip


async def probe(url: str, *options: str) -> Run:
    """ffprobe's JSON description of the stream."""
    return await run(
        FFPROBE, "-hide_banner", "-v", "error", *options, "-show_entries",
        "stream=codec_name,width,height,profile", "-of", "json", url,
        timeout=25,
    )  # fmt: skip


async def grab(url: str, transport: str = "tcp", skip: int = 5) -> np.ndarray:
    """One decoded frame (after ``skip`` frames) as an RGB array."""
    result = await run(
        FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-rtsp_transport", transport,
        "-i", url, "-vf", f"select=gte(n\\,{skip})", "-frames:v", "1",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-",
        timeout=25,
    )  # fmt: skip
    assert result.code == 0, result.err
    return np.frombuffer(result.out, np.uint8)


@attrs.frozen
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class RawClient:
    """A hand-driven RTSP client: send requests, read answers, collect ``$`` frames."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.cseq = 0
        self.frames: list[tuple[int, bytes]] = []

    @classmethod
    async def connect(cls, port: int, **kwargs: Any) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, **kwargs)
        return cls(reader, writer)

    async def request(self, method: str, uri: str, **headers: str) -> Answer:
        self.cseq += 1
        lines = [f"{method} {uri} RTSP/1.0", f"CSeq: {self.cseq}"]
        lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        return await self.answer()

    async def answer(self, timeout: float = 10) -> Answer:
        return await asyncio.wait_for(self._answer(), timeout)

    async def _answer(self) -> Answer:
        while True:
            first = await self.reader.readexactly(1)
            if first == b"$":
                head = await self.reader.readexactly(3)
                packet = await self.reader.readexactly(int.from_bytes(head[1:3], "big"))
                self.frames.append((head[0], packet))
                continue
            head = first + await self.reader.readuntil(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            status = int(lines[0].split(" ")[1])
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    k, _, v = line.partition(":")
                    headers[k.strip().lower()] = v.strip()
            body = await self.reader.readexactly(int(headers.get("content-length", "0")))
            return Answer(status, headers, body)

    async def read_frame(self, timeout: float = 5) -> tuple[int, bytes]:
        """The next interleaved ``$`` frame (channel, packet)."""
        head = await asyncio.wait_for(self.reader.readexactly(4), timeout)
        assert head[0:1] == b"$", head
        packet = await asyncio.wait_for(
            self.reader.readexactly(int.from_bytes(head[2:4], "big")), timeout
        )
        return head[1], packet

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


async def wait_until(condition: Any, timeout: float = 10.0, step: float = 0.05) -> bool:
    """Poll ``condition()`` until it is true or ``timeout`` passes; return its last value."""
    for _ in range(int(timeout / step)):
        if condition():
            return True
        await asyncio.sleep(step)
    return bool(condition())
