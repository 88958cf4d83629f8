"""bench/workers: async, thread and process workers side by side, 2 workers each.

CPU-bound: a pure-Python loop of 50,000 iterations per event (2 to 5 ms, by machine).
I/O-bound: 10 ms of waiting per event
(``asyncio.sleep`` on the async and process workers, ``time.sleep`` on threads).
Large bodies: a 1 MiB request echoed back, which process workers carry over a socket.
The server may use both CPUs (that is the point of process workers); wrk runs with
4 connections. Servers run in turns, round after round; the best round is kept.

    python bench/workers/run.py [--duration 5] [--rounds 3] [--workloads cpu,io,echo]
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
from common import dh_serverless, free_port, function_yaml, load, require_wrk

HERE = Path(__file__).resolve().parent
#: (label, workload, handler, workerKind)
CASES = [
    ("async", "cpu", "cpu_async", "auto"),
    ("thread", "cpu", "cpu", "thread"),
    ("process", "cpu", "cpu", "process"),
    ("async", "io", "io_async", "auto"),
    ("thread", "io", "io", "thread"),
    ("process", "io", "io_async", "process"),
    ("async", "echo", "echo_async", "auto"),
    ("thread", "echo", "echo", "thread"),
    ("process", "echo", "echo", "process"),
]
LABELS = {"cpu": "CPU loop (50k iterations)", "io": "10 ms wait", "echo": "1 MiB body echo"}


def measure(case: tuple[str, str, str, str], duration: float, workdir: Path) -> dict[str, float]:
    label, _, handler, kind = case
    port = free_port()
    path = workdir / f"{label}-{handler}.yaml"
    path.write_text(function_yaml(f"handlers:{handler}", port, 2, kind))
    proc = subprocess.Popen(
        dh_serverless(path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    script = HERE / "big.lua" if case[1] == "echo" else None
    return load(proc, port, 4, duration, script, cpus=None)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workloads", default=",".join(LABELS), help="cpu,io,echo")
    args = parser.parse_args()
    workloads = args.workloads.split(",")
    require_wrk()
    best: dict[tuple[str, str, str, str], dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(HERE / "handlers.py", Path(tmp) / "handlers.py")
        for round_ in range(args.rounds):
            for case in (c for c in CASES if c[1] in workloads):
                r = measure(case, args.duration, Path(tmp))
                print(
                    f"round {round_ + 1} {case[1]:<4} {case[0]:<8} {r['rps']:>8.0f} req/s",
                    file=sys.stderr,
                )
                if r["errors"]:
                    sys.exit(f"{case} answered {r['errors']} non-2xx responses")
                if case not in best or r["rps"] > best[case]["rps"]:
                    best[case] = r
    print(
        "\nbench/workers: 2 workers per kind; "
        f"wrk -t1 -c4, {args.duration:g} s x {args.rounds} rounds "
        f"(best round); Python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n"
    )
    print("| workload | worker kind | req/s | p50 ms | p99 ms | CPU ms/req | ratio vs thread |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for workload in workloads:
        base = next(r["rps"] for c, r in best.items() if c[1] == workload and c[0] == "thread")
        for case, r in best.items():
            if case[1] == workload:
                cpu_ms = r["cpu_per_request"] * 1e3
                print(
                    f"| {LABELS[workload]} | {case[0]} | {r['rps']:.0f} | {r['p50']:.1f} | "
                    f"{r['p99']:.1f} | {cpu_ms:.2f} | {r['rps'] / base:.2f}x |"
                )


if __name__ == "__main__":
    main()
