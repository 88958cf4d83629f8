"""bench/http: our http trigger against a bare aiohttp echo server, side by side.

Every server is started once, pinned to CPU 0; wrk runs pinned to CPU 1. The load goes to
one server at a time in short slices (``--duration`` seconds each), the servers in turns,
``--slices`` turns per round: each slice of ours is paired with the bare server's slice of
the same turn, seconds apart, so that the host's drift, which moves a shared machine's speed
by 20 % and more within minutes, cancels out of the ratio. A round's ratio is the median of
its turns' ratios.

Prints, per server, the medians over every slice (req/s, p50, p99, server CPU per request)
and the median paired ratio to bare aiohttp; then each round's ratios and the worst round.

    python bench/http/run.py [--duration 1] [--slices 5] [--rounds 3] [--connections 1,32]
                             [--source DIR]

``--source DIR`` adds both dh-serverless servers run from another checkout of this repository
(``(--source)``), loaded in the same turns: before and after a change, in one sitting.
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
    Slice,
    cpu_seconds,
    dh_serverless,
    free_port,
    function_yaml,
    median_of,
    paired,
    pinned,
    print_round_ratios,
    require_wrk,
    source_path,
    stop,
    wait_for,
    wrk,
)

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "post.lua"
FLOOR = "bare aiohttp"
BEFORE = " (--source)"


def start(
    name: str, port: int, workdir: Path, source: Path | None = None
) -> subprocess.Popen[bytes]:
    if name == FLOOR:
        cmd = pinned("0", [sys.executable, str(HERE / "bare_aiohttp.py"), str(port)])
    else:
        handler = "handler" if "async" in name else "sync_handler"
        path = workdir / f"{handler}-{port}.yaml"
        path.write_text(function_yaml(f"echo:{handler}", port, 32))
        shutil.copy(HERE / "echo.py", workdir / "echo.py")
        cmd = dh_serverless(path, "0")
    env = None
    if name.endswith(BEFORE) and source is not None:
        env = {**os.environ, "PYTHONPATH": source_path(source)}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    wait_for(port)
    return proc


def one_slice(proc: subprocess.Popen[bytes], port: int, connections: int, seconds: float) -> Slice:
    """wrk against one server for ``seconds``; adds the server's CPU seconds per request."""
    before = cpu_seconds(proc.pid)
    result = wrk(port, connections, seconds, SCRIPT)
    result["cpu_per_request"] = (cpu_seconds(proc.pid) - before) / max(result["requests"], 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=1.0, help="seconds per slice")
    parser.add_argument("--slices", type=int, default=5, help="turns per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of load first")
    parser.add_argument("--connections", default="1,32")
    parser.add_argument("--source", type=Path, help="also serve from this checkout, in turns")
    args = parser.parse_args()
    require_wrk()
    servers = [FLOOR, "dh-serverless async", "dh-serverless sync (threads)"]
    if args.source is not None:
        servers += [servers[1] + BEFORE, servers[2] + BEFORE]
    levels = [int(c) for c in args.connections.split(",")]
    # (server, connections) -> rounds -> turns
    slices: dict[tuple[str, int], list[list[Slice]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        ports = {name: free_port() for name in servers}
        procs: dict[str, subprocess.Popen[bytes]] = {}
        try:
            for name in servers:
                procs[name] = start(name, ports[name], Path(tmp), args.source)
            for c in levels:
                if args.warmup > 0:
                    for name in servers:
                        wrk(ports[name], c, args.warmup, SCRIPT)
                for round_ in range(args.rounds):
                    for name in servers:
                        slices.setdefault((name, c), []).append([])
                    for _ in range(args.slices):
                        for name in servers:
                            r = one_slice(procs[name], ports[name], c, args.duration)
                            if r["errors"]:
                                sys.exit(f"{name} answered {r['errors']} non-2xx responses")
                            slices[(name, c)][round_].append(r)
                    print(
                        f"round {round_ + 1} c={c:<3} "
                        + ", ".join(
                            f"{name} {median_of(slices[(name, c)][round_], 'rps'):.0f}"
                            for name in servers
                        )
                        + " req/s (medians)",
                        file=sys.stderr,
                    )
        finally:
            for proc in procs.values():
                stop(proc)
    print(
        f"\nbench/http: POST echo of 20 bytes; wrk -t1, {args.rounds} rounds of {args.slices} "
        f"turns of {args.duration:g} s per server (medians over every slice; ratios paired "
        "turn by turn); servers on CPU 0, wrk on CPU 1; uvloop on both; maxWorkers=32; "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n"
    )
    print("| server | conns | req/s | p50 ms | p99 ms | server CPU µs/req | ratio vs bare |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for c in levels:
        floor = [s for turns in slices[(FLOOR, c)] for s in turns]
        for name in servers:
            every = [s for turns in slices[(name, c)] for s in turns]
            ratio = paired(every, floor)[0]
            cpu = median_of(every, "cpu_per_request") * 1e6
            print(
                f"| {name} | {c} | {median_of(every, 'rps'):.0f} | {median_of(every, 'p50'):.3f} "
                f"| {median_of(every, 'p99'):.3f} | {cpu:.0f} | {ratio:.2f}x |"
            )
    print_round_ratios(
        [
            (
                [name, str(c)],
                [
                    paired(ours, floor)
                    for ours, floor in zip(slices[(name, c)], slices[(FLOOR, c)], strict=True)
                ],
            )
            for c in levels
            for name in servers[1:]
        ],
        ["server", "conns"],
    )


if __name__ == "__main__":
    main()
