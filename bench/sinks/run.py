"""bench/sinks: the websocket and webhook sinks against bare aiohttp doing the same job.

wrk POSTs frames to the server (an ``http`` trigger whose async handler returns the frame as
``image/jpeg``, with the sink; or a bare aiohttp server that answers the POST and hands the
frame on itself). The sink's peers (WebSocket clients counting messages, or a webhook receiver
counting requests) run in one process beside wrk. The server is pinned to CPU 0, wrk and the
peers to CPU 1. Servers are loaded in turns, round after round; the best round of each is kept.
Prints POST req/s, frames delivered per second (per WebSocket client: the slowest client),
the share of POSTed frames delivered, server CPU per POST and the ratio of delivered frames
to bare aiohttp's.

    python bench/sinks/run.py [--duration 5] [--rounds 3] [--size 50000] [--clients 1,8]
                              [--only websocket|webhook]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import cpu_seconds, dh_serverless, free_port, pinned, require_wrk, stop, wait_for, wrk

HERE = Path(__file__).resolve().parent
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def function_yaml(port: int, sink: str) -> str:
    return f"""
apiVersion: nuclio.io/v1
kind: NuclioFunction
metadata: {{name: bench-sinks}}
spec:
  handler: frames:handler
  triggers:
    http:
      kind: http
      maxWorkers: 8
      workerAvailabilityTimeoutMilliseconds: 60000
      attributes:
        port: {port}
        host: 127.0.0.1
        sink: {sink}
"""


def count(control: int) -> int:
    with _DIRECT.open(f"http://127.0.0.1:{control}/count", timeout=5) as r:
        return int(r.read())


def start_server(name: str, case: str, port: int, peer_port: int, workdir: Path):
    if name == "bare aiohttp":
        extra = [] if case == "websocket" else [f"http://127.0.0.1:{peer_port}/webhook"]
        mode = "ws" if case == "websocket" else "hook"
        cmd = pinned("0", [sys.executable, str(HERE / "bare.py"), mode, str(port), *extra])
        ws_url = f"ws://127.0.0.1:{port}/stream"
    else:
        if case == "websocket":
            sink = f"{{kind: websocket, attributes: {{host: 127.0.0.1, port: {peer_port}}}}}"
        else:
            url = f"http://127.0.0.1:{peer_port}/webhook"
            sink = f"{{kind: webhook, attributes: {{url: '{url}', maxConcurrency: 4}}}}"
        path = workdir / "function.yaml"
        path.write_text(function_yaml(port, sink))
        (workdir / "frames.py").write_text((HERE / "frames.py").read_text())
        cmd = dh_serverless(path, "0")
        ws_url = f"ws://127.0.0.1:{peer_port}/stream"
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, ws_url


def measure(
    name: str, case: str, clients: int, paced: bool, args: argparse.Namespace, workdir: Path
):
    port, peer_port, control = free_port(), free_port(), free_port()
    peers = None
    if case == "webhook":  # the receiver listens before the server starts sending
        peers = subprocess.Popen(
            pinned("1", [sys.executable, str(HERE / "peers.py"), "hook", str(control),
                         str(peer_port)]),
        )  # fmt: skip
        wait_for(control)
    proc, ws_url = start_server(name, case, port, peer_port, workdir)
    try:
        wait_for(port)
        if case == "websocket":
            wait_for(peer_port if name != "bare aiohttp" else port)
            peers = subprocess.Popen(
                pinned("1", [sys.executable, str(HERE / "peers.py"), "ws", str(control), ws_url,
                             str(clients)]),
            )  # fmt: skip
            wait_for(control)
            time.sleep(0.5)  # every client connected
        script = args.paced if paced else args.script
        if args.warmup > 0:
            wrk(port, 8, args.warmup, script)
            time.sleep(0.3)
        before_cpu, before = cpu_seconds(proc.pid), count(control)
        result = wrk(port, 8, args.duration, script)
        time.sleep(0.3)  # what was in flight lands
        delivered = count(control) - before
        result["cpu_per_request"] = (cpu_seconds(proc.pid) - before_cpu) / max(
            result["requests"], 1
        )
        result["delivered"] = delivered / args.duration
        result["share"] = delivered / max(result["requests"], 1)
        return result
    finally:
        # WebSocket clients leave first (a server waits for open connections on SIGTERM);
        # a webhook receiver stays until the server stopped sending.
        order = [peers, proc] if case == "websocket" else [proc, peers]
        for p in order:
            if p is not None:
                stop(p)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument(
        "--warmup", type=float, default=1.0, help="seconds of load first (wrk: whole seconds)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=50_000, help="frame bytes")
    parser.add_argument("--clients", default="1,8", help="WebSocket clients")
    parser.add_argument("--only", choices=("websocket", "webhook"))
    args = parser.parse_args()
    require_wrk()
    servers = ["bare aiohttp", "dh-serverless"]
    cases = [
        *(("websocket", int(c), p) for c in args.clients.split(",") for p in (True, False)),
        ("webhook", 0, True),
        ("webhook", 0, False),
    ]
    cases = [c for c in cases if args.only in (None, c[0])]
    best: dict[tuple[str, str, int, bool], dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        args.script = Path(tmp) / "post.lua"
        args.script.write_text(
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "image/jpeg"\n'
            f'wrk.body = string.rep("x", {args.size})\n'
        )
        args.paced = Path(tmp) / "paced.lua"
        args.paced.write_text(args.script.read_text() + "function delay()\n  return 8\nend\n")
        for round_ in range(args.rounds):
            for case, clients, paced in cases:
                for name in servers:
                    r = measure(name, case, clients, paced, args, Path(tmp))
                    print(
                        f"round {round_ + 1} {case:<9} clients={clients} paced={paced:d} "
                        f"{name:<14} "
                        f"{r['rps']:>7.0f} req/s {r['delivered']:>7.0f} delivered/s",
                        file=sys.stderr,
                    )
                    if r["errors"]:
                        sys.exit(f"{name} answered {r['errors']} non-2xx responses")
                    key = (name, case, clients, paced)
                    if key not in best or r["delivered"] > best[key]["delivered"]:
                        best[key] = r
    print(
        f"\nbench/sinks: wrk -t1 -c8 POSTs {args.size}-byte frames, {args.duration:g} s x "
        f"{args.rounds} rounds (best round); paced: each connection waits 8 ms between POSTs "
        "(at most 1000/s), flat out: no wait; async handler returning the frame, maxWorkers=8; "
        "webhook maxConcurrency=4 (bare: 4 senders); WebSocket queue 8 per client; server on "
        "CPU 0, wrk and the peers on CPU 1; uvloop everywhere; "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n"
    )
    print(
        "| sink | peers | load | server | POST req/s | delivered/s | delivered share "
        "| server CPU µs/POST | ratio vs bare |"
    )
    print("|---|---:|---|---|---:|---:|---:|---:|---:|")
    for case, clients, paced in cases:
        base = best[("bare aiohttp", case, clients, paced)]["delivered"]
        for name in servers:
            r = best[(name, case, clients, paced)]
            peers = (
                f"{clients} client{'s' * (clients != 1)}" if case == "websocket" else "1 receiver"
            )
            load = "paced" if paced else "flat out"
            print(
                f"| {case} | {peers} | {load} | {name} | {r['rps']:.0f} | {r['delivered']:.0f} "
                f"| {100 * r['share']:.0f}% | {1e6 * r['cpu_per_request']:.0f} "
                f"| {r['delivered'] / max(base, 1e-9):.2f}x |"
            )


if __name__ == "__main__":
    main()
