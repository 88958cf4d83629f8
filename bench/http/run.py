"""bench/http: our http trigger against a bare aiohttp echo server, side by side.

Each server runs alone, pinned to CPU 0; wrk runs pinned to CPU 1. Servers are loaded
in turns, round after round, and the best round of each is kept (noise on a shared
machine only ever slows a run down). Prints req/s, p50, p99, server CPU per request and
the ratio to bare aiohttp, then each round's ratios to bare aiohttp of the same round and
the worst.

    python bench/http/run.py [--duration 5] [--rounds 3] [--connections 1,32] [--source DIR]

``--source DIR`` adds both dh-serverless servers run from another checkout of this repository
(``(--source)``), loaded in the same rounds: before and after a change, in one sitting.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import (
    dh_serverless,
    free_port,
    function_yaml,
    load,
    pinned,
    print_round_ratios,
    require_wrk,
    source_path,
    wait_for,
)

HERE = Path(__file__).resolve().parent
BEFORE = " (--source)"


def start(
    name: str, port: int, workdir: Path, source: Path | None = None
) -> subprocess.Popen[bytes]:
    if name == "bare aiohttp":
        cmd = pinned("0", [sys.executable, str(HERE / "bare_aiohttp.py"), str(port)])
    else:
        handler = "handler" if "async" in name else "sync_handler"
        path = workdir / f"{handler}.yaml"
        path.write_text(function_yaml(f"echo:{handler}", port, 32))
        shutil.copy(HERE / "echo.py", workdir / "echo.py")
        cmd = dh_serverless(path, "0")
    env = None
    if name.endswith(BEFORE) and source is not None:
        env = {**os.environ, "PYTHONPATH": source_path(source)}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    wait_for(port)
    return proc


def measure(
    name: str,
    connections: int,
    duration: float,
    warmup: float,
    workdir: Path,
    source: Path | None = None,
) -> dict[str, float]:
    port = free_port()
    proc = start(name, port, workdir, source)
    return load(proc, port, connections, duration, HERE / "post.lua", warmup=warmup)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of load first")
    parser.add_argument("--connections", default="1,32")
    parser.add_argument("--source", type=Path, help="also serve from this checkout, in turns")
    args = parser.parse_args()
    require_wrk()
    servers = ["bare aiohttp", "dh-serverless async", "dh-serverless sync (threads)"]
    if args.source is not None:
        servers += [servers[1] + BEFORE, servers[2] + BEFORE]
    levels = [int(c) for c in args.connections.split(",")]
    best: dict[tuple[str, int], dict[str, float]] = {}
    each: dict[tuple[str, int], list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for c in levels:
                for name in servers:
                    r = measure(name, c, args.duration, args.warmup, Path(tmp), args.source)
                    print(
                        f"round {round_ + 1} c={c:<3} {name:<30} {r['rps']:>9.0f} req/s",
                        file=sys.stderr,
                    )
                    if r["errors"]:
                        sys.exit(f"{name} answered {r['errors']} non-2xx responses")
                    each.setdefault((name, c), []).append(r)
                    if (name, c) not in best or r["rps"] > best[(name, c)]["rps"]:
                        best[(name, c)] = r
    print(
        f"\nbench/http: POST echo of 20 bytes; wrk -t1, {args.duration:g} s x {args.rounds} rounds "
        "(best round); server on CPU 0, wrk on CPU 1; uvloop on both; "
        "maxWorkers=32; "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n"
    )
    print("| server | conns | req/s | p50 ms | p99 ms | server CPU µs/req | ratio vs bare |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for c in levels:
        base = best[("bare aiohttp", c)]["rps"]
        for name in servers:
            r = best[(name, c)]
            print(
                f"| {name} | {c} | {r['rps']:.0f} | {r['p50']:.3f} | {r['p99']:.3f} | "
                f"{r['cpu_per_request'] * 1e6:.0f} | {r['rps'] / base:.2f}x |"
            )
    print_round_ratios(
        [
            ([name, str(c)], each[(name, c)], each[("bare aiohttp", c)])
            for c in levels
            for name in servers[1:]
        ],
        ["server", "conns"],
    )


if __name__ == "__main__":
    main()
