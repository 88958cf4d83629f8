"""bench/webrtc still runs and prints its table (a tiny load; the figures mean nothing)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from browser import CHROMIUM, netns_available

ROOT = Path(__file__).resolve().parents[3]

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed"),
    pytest.mark.skipif(not netns_available(), reason="cannot make a network namespace"),
]


def test_bench_webrtc_prints_its_table():
    result = subprocess.run(
        [sys.executable, ROOT / "bench" / "webrtc" / "run.py", "--seconds", "1", "--warmup",
         "0.5", "--viewers", "2", "--size", "320x240"],
        capture_output=True, text=True, timeout=200, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr + result.stdout
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| sink | viewers | sent fps per viewer")
    assert [r.split("|")[1:3] for r in rows[1:]] == [
        [" webrtc ", " 1 "],
        [" webrtc ", " 2 "],
        [" mjpeg ", " 1 "],
        [" mjpeg ", " 2 "],
    ]
    assert "bytes per viewer, mjpeg over webrtc" in result.stdout
