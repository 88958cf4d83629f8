"""Shared by the benchmarks: free ports, starting servers, running wrk, CPU accounting."""

from __future__ import annotations

import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from dh_serverless.testing import free_port  # noqa: F401 - the benchmarks take it from here

BIN = Path(sys.executable).parent
HERE = Path(__file__).resolve().parent


def wait_for(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server on {port} did not start")


def pinned(cpus: str | None, cmd: list[str]) -> list[str]:
    return ["taskset", "-c", cpus, *cmd] if cpus and shutil.which("taskset") else cmd


def function_yaml(handler: str, port: int, workers: int, worker_kind: str = "auto") -> str:
    return f"""
apiVersion: nuclio.io/v1
kind: NuclioFunction
metadata: {{name: bench}}
spec:
  handler: {handler}
  workerKind: {worker_kind}
  triggers:
    http:
      kind: http
      maxWorkers: {workers}
      workerAvailabilityTimeoutMilliseconds: 60000
      attributes: {{port: {port}, host: 127.0.0.1}}
"""


def source_path(checkout: Path) -> str:
    """The ``PYTHONPATH`` that runs dh-serverless from another checkout of this repository
    (its ``src`` folders before the installed ones): before and after a change, one sitting."""
    folders = [checkout / "hookspecs/src", checkout / "core/src"]
    folders += sorted(checkout.glob("plugins/*/src"))
    return os.pathsep.join(str(folder.resolve()) for folder in folders)


def dh_serverless(function: Path, cpus: str | None = None) -> list[str]:
    cmd = [
        str(BIN / "dh-serverless"),
        "run",
        str(function),
        "--no-health",
        "--log-level",
        "warning",
    ]
    return pinned(cpus, cmd)


def wrk(
    port: int, connections: int, duration: float, script: Path | None = None, cpus: str | None = "1"
) -> dict[str, float]:
    """Run wrk; return req/s, p50 and p99 in ms, requests and non-2xx count."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency"]
    if script:
        cmd += ["-s", str(script)]
    out = subprocess.run(
        pinned(cpus, [*cmd, f"http://127.0.0.1:{port}/"]),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def pct(p: str) -> float:
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "p50": pct("50"),
        "p99": pct("99"),
        "errors": int(errors.group(1)) if errors else 0,
    }


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and all its children (worker processes)."""
    proc = psutil.Process(pid)
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def stop(proc: subprocess.Popen[Any], timeout: float = 15) -> None:
    """Terminate ``proc``; kill it if it has not exited ``timeout`` seconds later."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def require_wrk() -> None:
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")


def load(
    proc: subprocess.Popen[bytes],
    port: int,
    connections: int,
    duration: float,
    script: Path | None = None,
    cpus: str | None = "1",
    warmup: float = 1.0,
) -> dict[str, float]:
    """Warm up (``warmup`` seconds, 0 for none), then measure a started server with wrk; adds
    ``cpu_per_request`` (seconds, the server and its worker processes); stops the server
    whatever happens."""
    try:
        wait_for(port)
        if warmup > 0:
            wrk(port, connections, warmup, script, cpus)
        before = cpu_seconds(proc.pid)
        result = wrk(port, connections, duration, script, cpus)
        result["cpu_per_request"] = (cpu_seconds(proc.pid) - before) / max(result["requests"], 1)
        return result
    finally:
        stop(proc)


#: one slice of load on one server: wrk's figures and the server's CPU per request
Slice = dict[str, float]


def paired(ours: list[Slice], floor: list[Slice]) -> tuple[float, float]:
    """The median req/s and CPU-per-request ratios of slices paired turn by turn: each slice
    of ours against the floor's slice of the same turn, seconds apart, so that the drift of a
    shared host's speed cancels out of each ratio."""
    return (
        statistics.median(o["rps"] / f["rps"] for o, f in zip(ours, floor, strict=True)),
        statistics.median(
            o["cpu_per_request"] / f["cpu_per_request"] for o, f in zip(ours, floor, strict=True)
        ),
    )


def median_of(slices: list[Slice], key: str) -> float:
    """The median of one figure over slices."""
    return statistics.median(s[key] for s in slices)


def print_round_ratios(
    rows: list[tuple[list[str], list[tuple[float, float]]]],
    heads: list[str],
    target: tuple[float, float] | None = None,
    applies: Callable[[list[str]], bool] = lambda cells: True,
) -> None:
    """Each round's req/s and CPU-per-request ratios of a setup to its floor loaded in the same
    round (interleaved: the two saw the same machine), then the worst round, and whether the
    worst meets ``target`` (least req/s ratio, most CPU ratio) where ``applies(cells)``.

    :param rows: (label cells, the setup's (req/s ratio, CPU ratio) by round, see
        :func:`paired`).
    :param heads: the names of the label columns.
    """
    rounds = max((len(pairs) for _, pairs in rows), default=0)
    wanted = ""
    if target is not None:
        wanted = f"; target: >= {target[0]:g}x req/s and <= {target[1]:g}x CPU in every round"
    print(f"\nEach round against the floor of the same round (req/s ratio / CPU ratio){wanted}\n")
    columns = [*heads, *(f"round {i + 1}" for i in range(rounds)), "worst"]
    if target is not None:
        columns.append("target met")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(heads) + "---:|" * (rounds + 1) + ("---|" if target else ""))
    for cells, pairs in rows:
        if not pairs:
            continue
        worst = (min(p[0] for p in pairs), max(p[1] for p in pairs))
        line = [
            *cells,
            *(f"{a:.2f}x / {b:.2f}x" for a, b in pairs),
            "{:.2f}x / {:.2f}x".format(*worst),
        ]
        if target is not None:
            met = worst[0] >= target[0] and worst[1] <= target[1]
            line.append(("yes" if met else "no") if applies(cells) else "-")
        print("| " + " | ".join(line) + " |")
