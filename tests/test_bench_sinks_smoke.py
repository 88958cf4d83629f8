"""bench/sinks still runs and prints its websocket and webhook rows (a tiny load; the
figures mean nothing).

The benchmark feeds each sink from the http trigger (wrk POSTs frames to it), so it needs both
distributions and lives here rather than in the sinks' own tests.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)"
    ),
]


@pytest.mark.parametrize("sink", ["websocket", "webhook"])
def test_bench_sinks_prints_its_rows(sink):
    result = subprocess.run(
        [sys.executable, ROOT / "bench" / "sinks" / "run.py", "--duration=1", "--warmup=0",
         "--rounds=1", "--clients=1", f"--only={sink}"],
        capture_output=True, text=True, timeout=170, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = [line.split("|") for line in result.stdout.splitlines() if line.startswith(f"| {sink} ")]
    assert [(r[3].strip(), r[4].strip()) for r in rows] == [
        ("paced", "bare aiohttp"), ("paced", "dh-serverless"),
        ("flat out", "bare aiohttp"), ("flat out", "dh-serverless"),
    ]  # fmt: skip
    assert all(float(r[6]) > 0 for r in rows), result.stdout  # frames were delivered
