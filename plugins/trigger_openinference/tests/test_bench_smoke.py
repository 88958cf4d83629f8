"""bench/openinference still runs against every server and prints its table (a tiny load on
127.0.0.1; the figures mean nothing here)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from oi_support import ROOT


@pytest.mark.slow
def test_bench_openinference_prints_its_table():
    done = subprocess.run(
        [
            sys.executable,
            ROOT / "bench" / "openinference" / "run.py",
            "--duration=1",
            "--warmup=0",
            "--rounds=1",
            "--concurrency=2",
            "--cases=1,2,3",
            f"--source={ROOT}",  # the same code "before": the rows and their ratios appear
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    table = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert table[0].startswith("| case | c | server | req/s")
    rows = {tuple(cell.strip() for cell in line.split("|")[1:4]) for line in table[2:]}
    servers = ("dh-serverless", "dh-serverless (--source)", "floor (aiohttp)", "floor (grpc.aio)")
    for server in (*servers, "MLServer", "KServe"):
        assert any(row[2] == server for row in rows), server
    assert ("REST bin [1,16]", "2", "MLServer") in rows  # listed as not supported
    for server in servers[:2]:
        ours = [line.split("|") for line in table if f"| {server} |" in line]
        assert len(ours) == 3
        assert all(cells[-4].strip().endswith("x") for cells in ours), ours  # ratio to the floor


@pytest.mark.slow
def test_bench_batching_prints_its_table():
    done = subprocess.run(
        [
            sys.executable,
            ROOT / "bench" / "openinference" / "batching.py",
            "--duration=1",
            "--warmup=0",
            "--concurrency=1,4",
            "--servers=batched,unbatched",
            "--cases=1,2",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    table = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert table[0].startswith("| case | c | server | req/s")
    batched = [line.split("|") for line in table if "| dh-serverless batched |" in line]
    assert len(batched) == 4
    loaded = [cells for cells in batched if cells[2].strip() == "4"]
    assert len(loaded) == 2
    assert all(cells[9].strip().endswith("x**") for cells in loaded), loaded  # ÷ unbatched
    assert all(cells[11].strip().endswith("x") for cells in loaded), loaded  # per CPU
    assert "c=1: batching adds" in done.stdout
