"""The benchmarks still run and print their tables (a tiny load; the figures mean nothing)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(autouse=True)
def _needs_wrk() -> None:
    if shutil.which("wrk") is None and not os.environ.get("CI"):
        pytest.skip("wrk is not installed here (apt-get install wrk; .ci/run installs it)")


def run_bench(name: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, ROOT / "bench" / name / "run.py", "--duration=1", "--rounds=1", *args],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_bench_http_prints_its_table():
    out = run_bench("http", "--connections", "4", "--warmup", "0", "--slices", "1")
    table, rounds = out.split("\nEach round against the floor of the same round")
    rows = [line for line in table.splitlines() if line.startswith("| ") and "x |" in line]
    assert [r.split("|")[1].strip() for r in rows] == [
        "bare aiohttp",
        "dh-serverless async",
        "dh-serverless sync (threads)",
    ]
    per_round = [line.split("|") for line in rounds.splitlines() if line.startswith("| dh-")]
    assert [(r[1].strip(), r[2].strip()) for r in per_round] == [
        ("dh-serverless async", "4"),
        ("dh-serverless sync (threads)", "4"),
    ]
    assert all(r[3].strip().endswith("x") and r[4].strip().endswith("x") for r in per_round)


def test_bench_workers_prints_its_table():
    out = run_bench("workers", "--workloads", "cpu")
    rows = [line for line in out.splitlines() if line.startswith("| ") and "x |" in line]
    assert len(rows) == 3
    assert {r.split("|")[2].strip() for r in rows} == {"async", "thread", "process"}


def test_bench_startup_prints_its_table():
    out = run_bench("startup")
    rows = [line for line in out.splitlines() if line.startswith("| ") and "x |" in line]
    assert [r.split("|")[1].strip() for r in rows] == [
        "job: plain python",
        "job: dh-serverless run",
        "http: bare aiohttp",
        "http: dh-serverless run",
    ]


def test_bench_core_prints_its_table():
    out = run_bench("core", "--events", "200", "--profile")
    rows = [line.split("|")[1].strip() for line in out.splitlines() if line.startswith("| ")]
    assert "EventFactory + dispatch, async handler" in rows
    assert "EventFactory + dispatch, thread handler" in rows
    assert "Ordered by: internal time" in out


def test_bench_instructions_prints_its_table():
    if shutil.which("valgrind") is None and not os.environ.get("CI"):
        pytest.skip("valgrind is not installed here (apt-get install valgrind)")
    out = run_bench("instructions", "--requests", "30", "--warmup", "10", "--cases", "http-async")
    rows = [line.split("|") for line in out.splitlines() if line.startswith("| http-async")]
    assert [r[2].strip() for r in rows] == ["bare aiohttp", "dh-serverless async"]
    assert rows[0][4].strip() == "1.00x"
    assert all(int(r[3].strip().removesuffix(" k")) > 0 for r in rows)
