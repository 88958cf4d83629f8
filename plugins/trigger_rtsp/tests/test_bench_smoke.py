"""bench/rtsp_trigger still runs and prints its table (a tiny run; the figures mean nothing)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rtsp_peers import needs_gst

ROOT = Path(__file__).resolve().parents[3]
pytestmark = [
    needs_gst,
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed"),
    pytest.mark.timeout(300),
]


def test_bench_rtsp_trigger_prints_its_table():
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "rtsp_trigger" / "run.py"), "--smoke"],
        capture_output=True, text=True, timeout=280, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    cases = [(row.split("|")[1].strip(), row.split("|")[2].strip()) for row in rows[1:]]
    names = [
        "H.264 1280x720 30 fps: decode",
        "H.264 1280x720 30 fps: decode + JPEG every frame",
        "L16 16 kHz mono (the original's go2rtc stream) -> PCM",
        "L16 48 kHz stereo -> 16 kHz mono PCM",
    ]
    assert cases == [(n, r) for n in names for r in ("ffmpeg -threads 1", "rtsp trigger")]
