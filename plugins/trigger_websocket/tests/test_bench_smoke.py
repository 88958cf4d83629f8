"""bench/websocket still runs and prints its table (a tiny load; the figures mean nothing)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.timeout(120)


def test_bench_websocket_prints_both_servers_for_both_loads():
    result = subprocess.run(
        [sys.executable, ROOT / "bench" / "websocket" / "run.py", "--duration=0.5",
         "--rounds=1", "--clients=1"],
        capture_output=True, text=True, timeout=110, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = [line.split("|") for line in result.stdout.splitlines() if line.startswith("| d")]
    rows += [line.split("|") for line in result.stdout.splitlines() if line.startswith("| s")]
    assert [(r[1].strip(), r[2].strip()) for r in rows] == [
        ("discrete", "bare aiohttp echo"), ("discrete", "dh-serverless websocket"),
        ("stream", "bare aiohttp echo"), ("stream", "dh-serverless websocket"),
    ]  # fmt: skip
    assert all(float(r[3]) > 0 for r in rows), result.stdout  # answers came back
