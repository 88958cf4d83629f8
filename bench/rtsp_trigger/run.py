"""bench/rtsp_trigger: the rtsp trigger's decode cost against the ffmpeg command line.

GStreamer's RTSP server (``plugins/trigger_rtsp/tests/gst_rtsp_server.py``, system Python,
pinned to CPU 1) serves live test sources; one reader at a time, pinned to CPU 0, reads it
over TCP for a window after a warm-up, and the table reports what it got per CPU-second it
used (its process's user + system time over the window). Live sources are paced, so the
rate itself is the source's; the cost per frame is the figure to compare.

Rows, each as ``dh-serverless run`` (the trigger, an identity handler, one worker) and as
``ffmpeg -threads 1`` doing the same work:

1. video decode: H.264 1280x720 at 30 fps; the trigger with ``processing_interval: 2000``
   (decodes every frame, hands one JPEG every 2 s) against ``ffmpeg -f null``.
2. video decode + JPEG of every frame: the trigger with ``processing_interval: 0`` against
   ``ffmpeg -c:v mjpeg -pix_fmt yuvj420p -f null``.
3. audio: L16 16 kHz mono (what the original's test streams) to PCM, and L16 48 kHz stereo
   resampled to 16 kHz mono (the trigger's default output, with the original's rolling
   buffer) against ``ffmpeg [-ar 16000 -ac 1] -f s16le``: audio seconds per CPU-second.

    python bench/rtsp_trigger/run.py [--seconds 8] [--warmup 3] [--rounds 1] [--smoke]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import BIN, cpu_seconds, free_port, pinned, stop

ROOT = Path(__file__).resolve().parents[2]
GST = ROOT / "plugins" / "trigger_rtsp" / "tests" / "gst_rtsp_server.py"
HANDLER = "def handler(context, event):\n    return ''\n"


class GstServer:
    def __init__(self, *args: str) -> None:
        self.port = free_port()
        cmd = ["/usr/bin/python3", str(GST), "--port", str(self.port), "--path", "/b", *args]
        self.proc = subprocess.Popen(pinned("1", cmd), stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("READY"):
            raise RuntimeError(f"GStreamer server failed: {line!r}")
        self.url = f"rtsp://127.0.0.1:{self.port}/b"

    def stop(self) -> None:
        stop(self.proc, 5)


def run_ffmpeg(
    url: str, out_args: list[str], warmup: float, seconds: float, audio: bool
) -> tuple[float, float]:
    """(units, cpu seconds) over the window: frames, or audio seconds written."""
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-threads", "1",
           "-rtsp_transport", "tcp", "-i", url, *out_args,
           "-progress", "pipe:1", "-stats_period", "0.25", "-y"]  # fmt: skip
    proc = subprocess.Popen(pinned("0", cmd), stdout=subprocess.PIPE, text=True)
    ps = psutil.Process(proc.pid)
    latest = {"frame": 0.0, "out_time_us": 0.0}

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            key, _, value = line.strip().partition("=")
            if key in latest:
                with contextlib.suppress(ValueError):
                    latest[key] = float(value)

    threading.Thread(target=read, daemon=True).start()
    key = "out_time_us" if audio else "frame"
    deadline = time.monotonic() + 60
    while latest[key] <= 0:  # the window starts once data flows (after probing)
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("ffmpeg never received anything")
        time.sleep(0.05)
    time.sleep(warmup)
    u0, c0 = latest[key], cpu_seconds(ps.pid)
    time.sleep(seconds)
    u1, c1 = latest[key], cpu_seconds(ps.pid)
    stop(proc, 5)
    units = (u1 - u0) / 1e6 if audio else u1 - u0
    return units, c1 - c0


def metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    )


def run_trigger(
    url: str, attributes: str, warmup: float, seconds: float, audio: bool
) -> tuple[float, float]:
    """(units, cpu seconds) of ``dh-serverless run`` with the rtsp trigger over the window."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "identity.py").write_text(HANDLER)
        (folder / "function.yaml").write_text(f"""
apiVersion: nuclio.io/v1
kind: NuclioFunction
metadata: {{name: bench}}
spec:
  handler: identity:handler
  triggers:
    cam:
      kind: rtsp
      maxWorkers: 1
      attributes: {{rtsp_url: "{url}", {attributes}}}
""")
        health = free_port()
        cmd = [str(BIN / "dh-serverless"), "run", str(folder / "function.yaml"),
               "--log-level", "warning", "--health-host", "127.0.0.1",
               "--health-port", str(health)]  # fmt: skip
        proc = subprocess.Popen(pinned("0", cmd), cwd=folder)
        ps = psutil.Process(proc.pid)
        name = "dh_rtsp_trigger_" + ("audio_seconds_total" if audio else "frames_received_total")
        try:
            deadline = time.monotonic() + 60
            while True:  # the window starts once data flows, as ffmpeg's does
                try:
                    if metric(health, name) > 0:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the trigger never received anything")
                time.sleep(0.1)
            time.sleep(warmup)
            u0, c0 = metric(health, name), cpu_seconds(ps.pid)
            time.sleep(seconds)
            u1, c1 = metric(health, name), cpu_seconds(ps.pid)
        finally:
            stop(proc, 10)
    return u1 - u0, c1 - c0


CASES = [
    # (row, gst args, trigger attributes, ffmpeg output args, audio)
    ("H.264 1280x720 30 fps: decode", ("--video", "h264", "--size", "1280x720", "--fps", "30"),
     'media_type: video, processing_interval: 2000', ["-f", "null", "-"], False),
    ("H.264 1280x720 30 fps: decode + JPEG every frame",
     ("--video", "h264", "--size", "1280x720", "--fps", "30"),
     'media_type: video, processing_interval: 0',
     ["-vf", "setpts=N/30/TB", "-c:v", "mjpeg", "-q:v", "4", "-pix_fmt", "yuvj420p",
      "-f", "null", "-"], False),
    ("L16 16 kHz mono (the original's go2rtc stream) -> PCM",
     ("--video", "none", "--audio", "l16", "--rate", "16000", "--channels", "1"),
     'media_type: audio', ["-f", "s16le", os.devnull], True),
    ("L16 48 kHz stereo -> 16 kHz mono PCM",
     ("--video", "none", "--audio", "l16", "--rate", "48000", "--channels", "2"),
     'media_type: audio', ["-ar", "16000", "-ac", "1", "-f", "s16le", os.devnull], True),
]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--smoke", action="store_true", help="a tiny run (tests)")
    parser.add_argument("--only", default="", help="run the cases whose name contains this")
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.warmup, args.rounds = 0.6, 0.6, 1
    print(
        f"bench/rtsp_trigger: {args.seconds:g} s windows after {args.warmup:g} s warm-up, "
        f"{args.rounds} round(s), medians; readers on CPU 0, GStreamer's RTSP server on CPU 1, "
        f"RTP over TCP; Python {platform.python_version()}, {psutil.cpu_count()} CPUs"
    )
    print()
    print("| case | reader | units | CPU s | per CPU-second | trigger / ffmpeg |")
    print("|---|---|---|---|---|---|")
    for row, gst, attributes, out_args, audio in CASES:
        if args.only not in row:
            continue
        server = GstServer(*gst)
        try:
            ff, tr = [], []
            for _ in range(args.rounds):
                ff.append(run_ffmpeg(server.url, out_args, args.warmup, args.seconds, audio))
                tr.append(run_trigger(server.url, attributes, args.warmup, args.seconds, audio))
        finally:
            server.stop()
        unit = "audio s" if audio else "frames"
        rates = {}
        for reader, results in (("ffmpeg -threads 1", ff), ("rtsp trigger", tr)):
            units = statistics.median(u for u, _ in results)
            cpu_s = statistics.median(c for _, c in results)
            rates[reader] = units / cpu_s if cpu_s > 0 else float("inf")
            ratio = rates[reader] / rates["ffmpeg -threads 1"]
            print(
                f"| {row} | {reader} | {units:.0f} {unit} | {cpu_s:.2f} "
                f"| {rates[reader]:.0f} {unit}/CPU-s | {ratio:.2f}x |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
