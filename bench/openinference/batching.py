"""bench/openinference/batching.py: dynamic batching against no batching and MLServer's.

The model (``matmul.py``): ``OUTPUT0 = INPUT0 @ W``, FP32 ``[1, 512]`` requests, W 512x512,
after a fixed 1 ms per-call step standing for a framework; so a batch of 32 rows costs
little more than one row. Served by:

- dh-serverless batched: ``max_batch_size: 32``, ``max_queue_delay: 5ms`` (one worker,
  ``async def`` handler, ``tensors: numpy``);
- dh-serverless unbatched: the same function without batching;
- MLServer 1.7 with adaptive batching, the same model and settings (``max_batch_size: 32``,
  ``max_batch_time: 0.005``, inline ``parallel_workers: 0``; its venv from
  ``tools/peers.py``). MLServer has no binary extension: REST binary is ours only, so REST
  JSON is measured too.

Servers in turns, pinned to CPU 0 with ``OPENBLAS_NUM_THREADS=1``; wrk (REST) and h2load
(gRPC: one connection, N streams) on CPU 1. Every server's answer is checked once.

    python bench/openinference/batching.py [--duration 5] [--rounds 1] [--concurrency 1,32]
        [--delay 5] [--servers batched,unbatched,MLServer] [--cases all]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from common import BIN  # noqa: E402
from matmul import SIZE, STEP_SECONDS, WEIGHTS, predict  # noqa: E402
from run import (  # noqa: E402
    LOAD_CPU,
    SERVER_CPU,
    encode_body,
    free_port,
    infer_once,
    peer_python,
    pinned,
    sweep,
    wait_for,
)
from run import measure as run_measure  # noqa: E402

MODEL = "matmul"
INFER = f"/v2/models/{MODEL}/infer"
MAX_BATCH_SIZE = 32
#: the queue delay (both servers; ``--delay`` in ms): about max_batch_size times the
#: protocol's cost per request, so a batch can fill before it goes
MAX_QUEUE_DELAY = 0.005
SERVERS = {
    "batched": "dh-serverless batched",
    "unbatched": "dh-serverless unbatched",
    "MLServer": "MLServer batched",
}
#: one BLAS thread everywhere: the server has one core
#: server -> its /metrics port (ours only)
HEALTH: dict[str, int] = {}
THREADS = {name: "1" for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}


@dataclass(frozen=True)
class Case:
    name: str
    protocol: str  # rest | grpc
    encoding: str  # json | bin | raw


CASES = [
    Case(f"REST bin [1,{SIZE}]", "rest", "bin"),
    Case(f"gRPC [1,{SIZE}]", "grpc", "raw"),
    Case(f"REST JSON [1,{SIZE}]", "rest", "json"),
]


def supports(server: str, case: Case) -> bool:
    return not (server == "MLServer batched" and case.encoding == "bin")


def request_tensor() -> np.ndarray:
    return ((np.arange(SIZE) % 13) / 7.0).astype(np.float32).reshape(1, SIZE)


def write_body(case: Case, folder: Path) -> tuple[Path, int | None]:
    return encode_body(case.encoding, request_tensor(), MODEL, folder / f"{case.encoding}.body")


def check_answer(case: Case, port: int, body: Path, header: int | None) -> None:
    got = infer_once(case.protocol, port, body, header, INFER)
    want = (request_tensor() @ WEIGHTS).reshape(-1)
    if not np.allclose(got, want, rtol=1e-4, atol=1e-4):
        raise SystemExit(f"wrong answer for {case.name} on port {port}")


def start(server: str, work: Path) -> tuple[subprocess.Popen[bytes], int, int]:
    rest, grpc_port = free_port(), free_port()
    folder = work / server.replace(" ", "-")
    folder.mkdir(exist_ok=True)
    shutil.copy(HERE / "matmul.py", folder / "matmul.py")
    if server.startswith("dh-serverless"):
        attributes: dict[str, Any] = {
            "model_name": MODEL,
            "host": "127.0.0.1",
            "rest_port": rest,
            "grpc_port": grpc_port,
            "tensors": "numpy",
        }
        if server == "dh-serverless batched":
            attributes.update(max_batch_size=MAX_BATCH_SIZE, max_queue_delay=f"{MAX_QUEUE_DELAY}s")
        trigger = {
            "kind": "openinference",
            "maxWorkers": 1,
            "workerAvailabilityTimeoutMilliseconds": 60000,
            "attributes": attributes,
        }
        config = {
            "apiVersion": "nuclio.io/v1",
            "kind": "NuclioFunction",
            "metadata": {"name": MODEL},
            "spec": {"handler": "matmul:handler", "triggers": {"model": trigger}},
        }
        (folder / "function.yaml").write_text(json.dumps(config))
        health = free_port()
        HEALTH[server] = health
        cmd = [
            str(BIN / "dh-serverless"),
            "run",
            str(folder / "function.yaml"),
            "--health-host",
            "127.0.0.1",
            "--health-port",
            str(health),
            "--log-level",
            "warning",
        ]
    else:
        shutil.copy(HERE / "peers" / "mlserver_matmul.py", folder / "mlserver_matmul.py")
        (folder / "settings.json").write_text(
            json.dumps(
                {
                    "host": "127.0.0.1",
                    "http_port": rest,
                    "grpc_port": grpc_port,
                    "parallel_workers": 0,
                    "metrics_endpoint": None,
                }
            )
        )
        (folder / "model-settings.json").write_text(
            json.dumps(
                {
                    "name": MODEL,
                    "implementation": "mlserver_matmul.MatMul",
                    "max_batch_size": MAX_BATCH_SIZE,
                    "max_batch_time": MAX_QUEUE_DELAY,
                }
            )
        )
        cmd = [str(peer_python("mlserver").parent / "mlserver"), "start", str(folder)]
    proc = subprocess.Popen(
        pinned(SERVER_CPU, cmd),
        cwd=folder,
        env=dict(os.environ, **THREADS),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for port in (rest, grpc_port):
        wait_for(port, timeout=120)
    time.sleep(0.5)
    return proc, rest, grpc_port


def batch_stats(server: str) -> tuple[float, float, float, float]:
    """Sum and count of ``dh_openinference_batch_size`` and of
    ``dh_openinference_queue_seconds`` so far (zeros without /metrics)."""
    port = HEALTH.get(server)
    if port is None:
        return 0.0, 0.0, 0.0, 0.0
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    found = [
        re.search(rf"^dh_openinference_{name}_{part}\{{.*\}} (\S+)$", text, re.M)
        for name in ("batch_size", "queue_seconds")
        for part in ("sum", "count")
    ]
    a, b, c, d = (float(f.group(1)) if f else 0.0 for f in found)
    return a, b, c, d


def measure(server, proc, port, case, conns, seconds, body, header, work, warmup) -> dict:
    """``run.measure``, and the rows per batch and queue wait the server counted meanwhile
    (REST: the warm-up included; averages only)."""
    stats_before = batch_stats(server)
    result = run_measure(proc, port, case, conns, seconds, body, header, work, warmup, INFER)
    rows, batches, held, waited = (
        a - b for a, b in zip(batch_stats(server), stats_before, strict=True)
    )
    result["rows_per_batch"] = rows / batches if batches else None
    result["queue_ms"] = held / waited * 1000 if waited else None
    return result


def handler_time(rows: int) -> float:
    """Seconds ``predict`` takes on ``rows`` rows here (best of 20; this process, unpinned)."""
    x = np.repeat(request_tensor(), rows, axis=0)
    best = float("inf")
    for _ in range(20):
        start = time.perf_counter()
        predict(x)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    global MAX_QUEUE_DELAY  # --delay
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of load first")
    parser.add_argument("--concurrency", default="1,32")
    parser.add_argument("--servers", default="batched,unbatched,MLServer")
    parser.add_argument("--cases", default="all", help="comma-separated case numbers (1-3)")
    parser.add_argument("--delay", type=float, default=MAX_QUEUE_DELAY * 1000, help="ms")
    args = parser.parse_args()
    MAX_QUEUE_DELAY = args.delay / 1000
    for tool in ("wrk", "h2load"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed: apt-get install wrk nghttp2-client")
    os.environ.update(THREADS)  # the handler-time estimate below, like the servers
    servers = [SERVERS[name] for name in args.servers.split(",")]
    cases = CASES if args.cases == "all" else [CASES[int(i) - 1] for i in args.cases.split(",")]
    levels = [int(c) for c in args.concurrency.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        best = sweep(
            servers, cases, levels, args.rounds, work,
            start=start, supports=supports, write_body=write_body, check_answer=check_answer,
            load=lambda *a, **kw: measure(
                *a, **kw, seconds=args.duration, work=work, warmup=args.warmup
            ),
            extra=lambda r: f" p50 {r['p50']:6.2f} ms",
        )  # fmt: skip
    print_table(best, servers, cases, levels, args)


def print_table(best, servers, cases, levels, args) -> None:
    batch_ms = handler_time(MAX_BATCH_SIZE) * 1000
    delay_ms = MAX_QUEUE_DELAY * 1000
    print(
        f"\nbench/openinference/batching.py: FP32 [1,{SIZE}] @ {SIZE}x{SIZE} after a "
        f"{STEP_SECONDS * 1000:g} ms per-call step; max_batch_size {MAX_BATCH_SIZE}, queue delay "
        f"{delay_ms:g} ms (MLServer: max_batch_time); {args.duration:g} s per run, best of "
        f"{args.rounds} round(s); server on CPU {SERVER_CPU}, load on CPU {LOAD_CPU}; REST: "
        "wrk -t1 -cN; gRPC: h2load -c1 -mN; one BLAS thread; dh-serverless: one worker, async "
        f"handler, uvloop; Python {platform.python_version()}, {os.cpu_count()} CPUs, shared "
        f"machine; a batch of {MAX_BATCH_SIZE} rows takes {batch_ms:.2f} ms in the handler here\n"
    )
    print(
        "| case | c | server | req/s | p50 ms | p99 ms | server CPU µs/req | rows/batch "
        "| batched ÷ unbatched | batched ÷ MLServer | per CPU: ÷ unbatched | per CPU: ÷ MLServer |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    checks = []
    for case in cases:
        for conns in levels:
            ours = best.get(("dh-serverless batched", case.name, conns))
            plain = best.get(("dh-serverless unbatched", case.name, conns))
            peer = best.get(("MLServer batched", case.name, conns))
            for server in servers:
                r = best.get((server, case.name, conns))
                if r is None:
                    if not supports(server, case):
                        cells = " |" * 9
                        print(f"| {case.name} | {conns} | {server} | not supported |{cells}")
                    continue
                ratios = ["", "", "", ""]
                if server == "dh-serverless batched" and conns > 1:  # c=1: latency, below
                    mine = r["cpu_per_request"]
                    if plain:
                        ratios[0] = f"**{r['rps'] / plain['rps']:.2f}x**"
                        ratios[2] = f"{plain['cpu_per_request'] / mine:.2f}x"
                    if peer and peer["rps"] > 0 and not peer["errors"]:
                        ratios[1] = f"**{r['rps'] / peer['rps']:.2f}x**"
                        ratios[3] = f"{peer['cpu_per_request'] / mine:.2f}x"
                flag = f" ({r['errors']} errors)" if r["errors"] else ""
                per_batch = r.get("rows_per_batch")
                rows = "" if per_batch is None else f"{per_batch:.1f}"
                print(
                    f"| {case.name} | {conns} | {server}{flag} | {r['rps']:.0f} | "
                    f"{r['p50']:.2f} | {r['p99']:.2f} | {r['cpu_per_request'] * 1e6:.0f} | "
                    f"{rows} | " + " | ".join(ratios) + " |"
                )
            if ours and conns == 1:
                parts = []
                if plain:
                    extra = ours["p50"] - plain["p50"]
                    target = delay_ms + 0.1
                    parts.append(f"batching adds {extra:.2f} ms to p50 (target <= {target:.1f} ms)")
                if ours.get("queue_ms") is not None:
                    parts.append(f"held in the queue {ours['queue_ms']:.2f} ms on average")
                checks.append(f"{case.name}, c=1: " + "; ".join(parts))
            elif ours and conns > 1:
                checks.append(
                    f"{case.name}, c={conns}: p99 {ours['p99']:.2f} ms (target <= "
                    f"{delay_ms + 2 * batch_ms:.2f} ms: the delay + twice the batch's "
                    "handler time)"
                )
    print()
    for line in checks:
        print(f"- {line}")


if __name__ == "__main__":
    main()
