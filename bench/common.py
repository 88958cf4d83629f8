"""Shared by the benchmarks: free ports, starting servers, running wrk, CPU accounting."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import time
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
) -> dict[str, float]:
    """Warm up, then measure a started server with wrk; adds ``cpu_per_request`` (seconds,
    the server and its worker processes); stops the server whatever happens."""
    try:
        wait_for(port)
        wrk(port, connections, 1.0, script, cpus)  # warm-up
        before = cpu_seconds(proc.pid)
        result = wrk(port, connections, duration, script, cpus)
        result["cpu_per_request"] = (cpu_seconds(proc.pid) - before) / max(result["requests"], 1)
        return result
    finally:
        stop(proc)
