"""Peers for the rtsp trigger's tests: GStreamer's RTSP server as a subprocess, a recording
``dispatch``, the trigger run in-process, and the tone and JPEG checks."""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dh_serverless.hookspecs import Event, FunctionInfo, Response, TriggerSpec
from dh_serverless.testing import FakeDispatch
from dh_serverless.testing.processes import free_port, stop_process
from dh_serverless.triggers.rtsp import RtspTrigger, RtspTriggerAttributes

__all__ = (
    "GST_SERVER",
    "Recorder",
    "dominant_frequency",
    "free_port",
    "gst_server",
    "needs_ffmpeg",
    "needs_gst",
    "running_trigger",
)

HERE = Path(__file__).resolve().parent
GST_SERVER = HERE / "gst_rtsp_server.py"
SYSTEM_PYTHON = "/usr/bin/python3"


def _gst_available() -> bool:
    if not Path(SYSTEM_PYTHON).exists():
        return False
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0');"
         "from gi.repository import GstRtspServer"],
        capture_output=True, timeout=30, check=False,
    )  # fmt: skip
    return probe.returncode == 0


needs_gst = pytest.mark.skipif(
    not _gst_available(),
    reason="GStreamer's RTSP server is not installed (apt-get install gir1.2-gst-rtsp-server-1.0 "
    "python3-gi gstreamer1.0-plugins-{base,good,bad,ugly})",
)
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")


class GstServer:
    """One ``gst_rtsp_server.py`` process; ``url`` is its stream."""

    def __init__(self, port: int, path: str, args: list[str]) -> None:
        self.port = port
        self.path = path
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, userinfo: str = "") -> str:
        """``rtsp://[userinfo@]127.0.0.1:port/path``."""
        at = f"{userinfo}@" if userinfo else ""
        return f"rtsp://{at}127.0.0.1:{self.port}{self.path}"

    def start(self, timeout: float = 30.0) -> None:
        """Start the server and wait for it to listen."""
        cmd = [SYSTEM_PYTHON, str(GST_SERVER), "--port", str(self.port), "--path", self.path]
        self.proc = subprocess.Popen(
            [*cmd, *self.args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL, env={**os.environ, "GST_DEBUG": "0"},
        )  # fmt: skip
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        line = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                line = self.proc.stdout.readline()
                if line.startswith(b"READY"):
                    return
                if not line:
                    break
            if self.proc.poll() is not None:
                break
        err = b""
        if self.proc.poll() is not None and self.proc.stderr is not None:
            err = self.proc.stderr.read()
        self.stop()
        raise AssertionError(f"the GStreamer RTSP server did not start: {line!r} {err!r}")

    def stop(self) -> None:
        """Stop the server by its PID."""
        if self.proc is not None:
            stop_process(self.proc, grace=5)
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()
            self.proc = None

    def pause(self) -> None:
        """SIGSTOP: the connection stays open, nothing more arrives (a stalled camera)."""
        assert self.proc is not None
        os.kill(self.proc.pid, 19)

    def resume(self) -> None:
        """SIGCONT."""
        assert self.proc is not None
        os.kill(self.proc.pid, 18)


@contextlib.contextmanager
def gst_server(*args: str, path: str = "/mystream", port: int = 0) -> Iterator[GstServer]:
    """GStreamer's RTSP server serving ``args`` (see ``gst_rtsp_server.py --help``)."""
    server = GstServer(port or free_port(), path, list(args))
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Recorder(FakeDispatch):
    """The testing kit's ``FakeDispatch``, answering 200 ``ok`` (after ``delay`` s)."""

    def __init__(self, delay: float = 0.0) -> None:
        async def answer(event: Event) -> Response:
            if delay:
                await asyncio.sleep(delay)
            return Response(body=b"ok", content_type="text/plain")

        super().__init__(answer)

    async def wait_for(self, count: int, timeout: float = 20.0) -> list[Event]:
        """The first ``count`` events, once they arrived."""
        return await super().wait_for(count, timeout)


@contextlib.asynccontextmanager
async def running_trigger(
    url: str, dispatch: Any, *, workers: int = 1, **attributes: Any
) -> AsyncIterator[RtspTrigger]:
    """An rtsp trigger named ``cam`` reading ``url``, stopped on exit."""
    attributes.setdefault("reconnect_delay", 0.2)
    attributes.setdefault("max_reconnect_delay", 1.0)
    spec = TriggerSpec(
        name="cam",
        kind="rtsp",
        attributes=RtspTriggerAttributes(rtsp_url=url, **attributes),
        function=FunctionInfo("test"),
        workers=workers,
    )
    trigger = RtspTrigger(spec)
    await trigger.start(dispatch)
    try:
        yield trigger
    finally:
        await trigger.stop(2.0)


def dominant_frequency(samples: np.ndarray[Any, Any], rate: int) -> float:
    """The strongest frequency in ``samples`` (mono float or int), in Hz."""
    x = samples.astype(np.float64)
    x = x - x.mean()
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1.0 / rate)[int(np.argmax(spectrum))])


async def eventually(predicate: Any, timeout: float, what: str) -> None:
    """Poll ``predicate()`` until true, else fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)
