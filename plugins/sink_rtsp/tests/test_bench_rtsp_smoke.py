"""bench/rtsp still runs and prints its three tables (a tiny load; the figures mean nothing)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.timeout(240)


def test_bench_rtsp_prints_its_tables():
    result = subprocess.run(
        [sys.executable, ROOT / "bench" / "rtsp" / "run.py", "--seconds", "2", "--rounds", "1",
         "--sizes", "320x240"],
        capture_output=True, text=True, timeout=200, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| size | sink fps")
    assert rows[1].startswith("| 320x240 |")
    assert rows[1].endswith("x |")
    assert rows[2].startswith("| sent fps")
    assert rows[4].startswith("| frames matched")
    matched = int(rows[5].split("|")[1])
    assert matched > 0
