"""bench/extproc still runs and prints its table (a tiny load; the figures mean nothing)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_bench_extproc_prints_its_table():
    if shutil.which("wrk") is None and not os.environ.get("CI"):
        pytest.skip("wrk is not installed here (apt-get install wrk; .ci/run installs it)")
    result = subprocess.run(
        [sys.executable, ROOT / "bench" / "extproc" / "run.py", "--duration=1", "--warmup=0",
         "--rounds=1", "--slices=1", "--connections=2", "--cases=headers"],
        capture_output=True, text=True, timeout=280, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    table, rounds = result.stdout.split("\nEach round against the floor")
    rows = [line.split("|") for line in table.splitlines() if line.startswith("| headers")]
    assert [r[2].strip() for r in rows] == [
        "Envoy direct",
        "bare grpc.aio",
        "dh-serverless extproc",
        "dh-serverless processes: 2",
    ]
    assert rows[2][8].strip().endswith("x")  # a ratio to the bare processor
    per_round = [line.split("|") for line in rounds.splitlines() if line.startswith("| headers")]
    assert [r[3].strip() for r in per_round] == [
        "dh-serverless extproc",
        "dh-serverless processes: 2",
    ]
    assert all(r[4].strip().endswith("x") and r[-2].strip() == "-" for r in per_round)  # c=2
