"""bench/mjpeg still runs and prints its table (a tiny run; the figures mean nothing)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("skimage")
ROOT = Path(__file__).resolve().parents[3]
pytestmark = [
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed"),
    pytest.mark.timeout(300),
]


def test_bench_mjpeg_prints_its_table():
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "mjpeg" / "run.py"), "--smoke"],
        capture_output=True, text=True, timeout=280, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    cases = [row.split("|")[1].strip() for row in rows[1:]]
    assert cases == [
        "ingest 640x480: plain read + split (floor)",
        "ingest 640x480: mjpeg trigger, identity handler",
        "ingest 1280x720: plain read + split (floor)",
        "ingest 1280x720: mjpeg trigger, identity handler",
        "720p30 source -> viewer, direct (floor)",
        "720p30 source -> mjpeg trigger -> mjpeg sink -> viewer",
        "heavy handler, 1 process worker",
        "heavy handler, 2 process workers",
    ]
