"""bench/openinference: the openinference trigger against MLServer, KServe and plain floors.

An identity model (``INPUT0`` FP32 -> ``OUTPUT0``) served by dh-serverless (``tensors:
numpy``, an ``async def`` handler), by MLServer (inline, ``parallel_workers: 0``), by KServe's
``ModelServer`` (each peer in its own venv from ``tools/peers.py``) and by the floors of the
reference (a bare aiohttp + orjson + uvloop server, a bare grpc.aio + uvloop server). Servers
are loaded in turns, round after round, one at a time, pinned to CPU 0; the load generator
is pinned to CPU 1: wrk (REST, ``post.lua``) and h2load (gRPC: one connection, N streams,
a prebuilt request body), both written in C. Every answer is checked once before the load.
The best round of each server and case is kept. Prints req/s, p50, p99, server CPU time
per request and our ratio to the best peer that supports the case and to the floor, by
req/s and by requests per server CPU-second (steadier on a shared machine).

``--source DIR`` adds ``dh-serverless (--source)``: the same function run from another
checkout of this repository (its ``src`` folders first on ``PYTHONPATH``), loaded in the same
rounds, in turns with the others: before and after a change, side by side.

    python bench/openinference/run.py [--duration 5] [--rounds 2] [--concurrency 1,8]
        [--servers dh-serverless,floor,MLServer,KServe] [--cases all] [--source DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(ROOT / "tools"))
from common import (  # noqa: E402
    cpu_seconds,
    dh_serverless,
    free_port,
    pinned,
    source_path,
    stop,
    wait_for,
)

from dh_serverless.triggers.openinference._generated import dh_openinference_pb2 as pb  # noqa: E402

INFER = "/v2/models/identity/infer"
GRPC_METHOD = "/inference.GRPCInferenceService/ModelInfer"
SERVER_CPU, LOAD_CPU = "0", "1"


@dataclass(frozen=True)
class Case:
    name: str
    protocol: str  # rest | grpc
    encoding: str  # json | bin | raw
    shape: tuple[int, ...]


CASES = [
    Case("REST JSON [1,16]", "rest", "json", (1, 16)),
    Case("REST bin [1,16]", "rest", "bin", (1, 16)),
    Case("gRPC [1,16]", "grpc", "raw", (1, 16)),
    Case("REST bin [1,3,224,224]", "rest", "bin", (1, 3, 224, 224)),
    Case("gRPC [1,3,224,224]", "grpc", "raw", (1, 3, 224, 224)),
]
PEERS = ("MLServer", "KServe")
#: ``--source DIR``: dh-serverless run from that checkout, loaded in the same rounds as ours
BEFORE = "dh-serverless (--source)"


def supports(server: str, case: Case) -> bool:
    if server == "MLServer":
        return case.encoding != "bin"  # no binary tensor data extension (HTTP 422)
    if server == "floor (aiohttp)":
        return case.protocol == "rest"
    if server == "floor (grpc.aio)":
        return case.protocol == "grpc"
    return True


# ---------------------------------------------------------------------------
# Request bodies
# ---------------------------------------------------------------------------


def tensor(case: Case) -> np.ndarray:
    count = int(np.prod(case.shape))
    return (np.arange(count, dtype=np.float32) % 97 * 0.5).reshape(case.shape)


def encode_body(encoding: str, x: np.ndarray, model: str, path: Path) -> tuple[Path, int | None]:
    """``x`` as ``INPUT0`` of a request body written to ``path``: ``json``, ``bin`` (the binary
    tensor data extension) or ``raw`` (a gRPC frame of ``ModelInferRequest``); returns the path
    and the Inference-Header-Content-Length (``bin`` only)."""
    item: dict[str, Any] = {"name": "INPUT0", "shape": list(x.shape), "datatype": "FP32"}
    if encoding == "json":
        item["data"] = x.reshape(-1).tolist()
        path.write_bytes(json.dumps({"inputs": [item]}).encode())
        return path, None
    if encoding == "bin":
        item["parameters"] = {"binary_data_size": x.nbytes}
        head = json.dumps({"inputs": [item], "parameters": {"binary_data_output": True}}).encode()
        path.write_bytes(head + x.tobytes())
        return path, len(head)
    request = pb.ModelInferRequest(
        model_name=model,
        inputs=[
            pb.ModelInferRequest.InferInputTensor(name="INPUT0", datatype="FP32", shape=x.shape)
        ],
        raw_input_contents=[x.tobytes()],
    ).SerializeToString()
    path.write_bytes(b"\x00" + len(request).to_bytes(4, "big") + request)
    return path, None


def write_body(case: Case, folder: Path) -> tuple[Path, int | None]:
    """The request body file, and its Inference-Header-Content-Length (binary only)."""
    path = folder / f"{case.encoding}-{'x'.join(map(str, case.shape))}.body"
    return encode_body(case.encoding, tensor(case), "identity", path)


def infer_once(protocol: str, port: int, body: Path, header: int | None, path: str) -> np.ndarray:
    """Send one request body (``write_body``'s) and return the first output's values, flat."""
    data = body.read_bytes()
    if protocol == "grpc":
        with grpc.insecure_channel(
            f"127.0.0.1:{port}", options=[("grpc.max_receive_message_length", -1)]
        ) as channel:
            call = channel.unary_unary(GRPC_METHOD)
            answer = pb.ModelInferResponse.FromString(call(data[5:], timeout=30))
        if answer.raw_output_contents:
            return np.frombuffer(answer.raw_output_contents[0], dtype=np.float32)
        return np.asarray(answer.outputs[0].contents.fp32_contents, dtype=np.float32)
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers = {
            "Content-Type": "application/octet-stream",
            "Inference-Header-Content-Length": str(header),
        }
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, headers=headers, method="POST"
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        payload = response.read()
        length = response.headers.get("Inference-Header-Content-Length")
    if length is None:
        return np.asarray(json.loads(payload)["outputs"][0]["data"], dtype=np.float32)
    return np.frombuffer(payload[int(length) :], dtype=np.float32)


def check_answer(case: Case, port: int, body: Path, header: int | None) -> None:
    """One request, its answer compared with the input: a wrong server fails the run."""
    got = infer_once(case.protocol, port, body, header, INFER)
    if not np.array_equal(got, tensor(case).reshape(-1)):
        raise SystemExit(f"wrong answer for {case.name} on port {port}")


# ---------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------


def peer_python(name: str) -> Path:
    from peers import peer_python as make

    return make(name)


def write_function(folder: Path, rest: int, grpc_port: int) -> Path:
    """Our identity model's ``function.yaml`` (and handler) in ``folder``; returns its path."""
    shutil.copy(HERE / "identity.py", folder / "identity.py")
    path = folder / "function.yaml"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "nuclio.io/v1",
                "kind": "NuclioFunction",
                "metadata": {"name": "identity"},
                "spec": {
                    "handler": "identity:handler",
                    "triggers": {
                        "model": {
                            "kind": "openinference",
                            "maxWorkers": 16,
                            "workerAvailabilityTimeoutMilliseconds": 60000,
                            "attributes": {
                                "model_name": "identity",
                                "host": "127.0.0.1",
                                "rest_port": rest,
                                "grpc_port": grpc_port,
                                "tensors": "numpy",
                            },
                        }
                    },
                },
            }
        )
    )
    return path


def start(
    server: str, work: Path, source: Path | None = None
) -> tuple[subprocess.Popen[bytes], int, int]:
    rest, grpc_port = free_port(), free_port()
    folder = work / re.sub(r"\W+", "-", server)
    folder.mkdir(exist_ok=True)
    env = None
    if server == BEFORE and source is not None:
        env = {**os.environ, "PYTHONPATH": source_path(source)}
    if server in ("dh-serverless", BEFORE):
        cmd = dh_serverless(write_function(folder, rest, grpc_port))
    elif server == "floor (aiohttp)":
        cmd = [sys.executable, str(HERE / "floor_rest.py"), str(rest)]
    elif server == "floor (grpc.aio)":
        cmd = [sys.executable, str(HERE / "floor_grpc.py"), str(grpc_port)]
    elif server == "MLServer":
        shutil.copy(HERE / "peers" / "mlserver_identity.py", folder / "identity_model.py")
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
            json.dumps({"name": "identity", "implementation": "identity_model.Identity"})
        )
        cmd = [str(peer_python("mlserver").parent / "mlserver"), "start", str(folder)]
    elif server == "KServe":
        script = HERE / "peers" / "kserve_identity.py"
        cmd = [str(peer_python("kserve")), str(script), str(rest), str(grpc_port)]
    else:
        raise SystemExit(f"unknown server {server!r}")
    proc = subprocess.Popen(
        pinned(SERVER_CPU, cmd), cwd=folder, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for port in (rest, grpc_port):
        if "floor" in server and (port == rest) != (server == "floor (aiohttp)"):
            continue
        wait_for(port, timeout=120)
    time.sleep(0.5)
    return proc, rest, grpc_port


# ---------------------------------------------------------------------------
# Load generators
# ---------------------------------------------------------------------------


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(
    port: int, conns: int, seconds: float, body: Path, header: int | None, path: str = INFER
) -> dict:
    env = dict(os.environ, OI_BODY=str(body), OI_PATH=path, OI_HEADER_LEN=str(header or ""))
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{max(1, round(seconds))}s", "--latency", "--timeout=60s",
           "-s", str(HERE / "post.lua"), f"http://127.0.0.1:{port}"]  # fmt: skip
    out = subprocess.run(
        pinned(LOAD_CPU, cmd), capture_output=True, text=True, check=True, env=env
    ).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: .*", out)
    p50 = re.search(r"\s50%\s+([\d.]+)(us|ms|s)", out)
    p99 = re.search(r"\s99%\s+([\d.]+)(us|ms|s)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "p50": _ms(*p50.groups()) if p50 else float("nan"),
        "p99": _ms(*p99.groups()) if p99 else float("nan"),
        "errors": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(0) if socket_errors else "",
    }


def run_h2load(
    port: int, conns: int, seconds: float, body: Path, log: Path, warmup: float = 1.0
) -> dict:
    log.unlink(missing_ok=True)  # h2load appends to its --log-file: one run's latencies only
    cmd = ["h2load", "-c1", f"-m{conns}", "-D", f"{max(1, round(seconds))}",
           f"--warm-up-time={warmup:g}", "-d", str(body), "-H", "content-type: application/grpc",
           "-H", "te: trailers", f"--log-file={log}",
           f"http://127.0.0.1:{port}{GRPC_METHOD}"]  # fmt: skip
    out = subprocess.run(pinned(LOAD_CPU, cmd), capture_output=True, text=True, check=True).stdout
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", out)
    times = sorted(int(line.split("\t")[2]) for line in log.read_text().splitlines() if line)
    requests = int(done.group(2)) if done else len(times)
    rps = float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out).group(1))

    def pct(p: float) -> float:
        return times[min(len(times) - 1, int(len(times) * p))] / 1000 if times else float("nan")

    failed = (int(done.group(1)) - int(done.group(2))) if done else 0
    return {"rps": rps, "requests": requests, "p50": pct(0.5), "p99": pct(0.99),
            "errors": failed, "socket_errors": ""}  # fmt: skip


def measure(
    proc, port, case, conns, seconds, body, header, work, warmup: float = 1.0, path: str = INFER
) -> dict:
    """Load ``port`` for ``seconds`` after ``warmup`` seconds of the same load (wrk: whole
    seconds, 0 for none); the server's CPU per request over the measured window."""
    if case.protocol == "rest":
        if warmup > 0:
            run_wrk(port, conns, warmup, body, header, path)
        before = cpu_seconds(proc.pid)
        result = run_wrk(port, conns, seconds, body, header, path)
        used = cpu_seconds(proc.pid) - before
    else:
        before = cpu_seconds(proc.pid)
        result = run_h2load(port, conns, seconds, body, work / "h2load.log", warmup)
        used = cpu_seconds(proc.pid) - before
        used *= seconds / (seconds + warmup)  # h2load's warm-up is in the CPU window
    result["cpu_per_request"] = used / max(result["requests"], 1)
    return result


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------


def sweep(
    servers: list[str],
    cases: list[Any],
    levels: list[int],
    rounds: int,
    work: Path,
    *,
    start: Callable[[str, Path], tuple[subprocess.Popen[bytes], int, int]],
    supports: Callable[[str, Any], bool],
    write_body: Callable[[Any, Path], tuple[Path, int | None]],
    check_answer: Callable[[Any, int, Path, int | None], None],
    load: Callable[..., dict],
    extra: Callable[[dict], str],
) -> dict[tuple[str, str, int], dict]:
    """``rounds`` times, each server started once and loaded with every case it
    ``supports`` at each concurrency (its answers checked in the first round); logs each
    result (with ``extra(result)``) and returns the best round of each (server, case name,
    concurrency) by req/s. ``load(server, proc, port, case, conns, body=, header=)`` measures
    one."""
    best: dict[tuple[str, str, int], dict] = {}
    bodies = {case: write_body(case, work) for case in cases}
    for round_ in range(rounds):
        for server in servers:
            todo = [c for c in cases if supports(server, c)]
            if not todo:
                continue
            proc, rest, grpc_port = start(server, work)
            try:
                for case in todo:
                    port = rest if case.protocol == "rest" else grpc_port
                    body, header = bodies[case]
                    if round_ == 0:
                        check_answer(case, port, body, header)
                    for conns in levels:
                        r = load(server, proc, port, case, conns, body=body, header=header)
                        print(
                            f"round {round_ + 1} {server:<24} {case.name:<24} c={conns:<2} "
                            f"{r['rps']:>9.0f} req/s {r['cpu_per_request'] * 1e6:>8.0f} µs CPU"
                            + extra(r)
                            + (f"  ERRORS {r['errors']}" if r["errors"] else ""),
                            file=sys.stderr,
                        )
                        key = (server, case.name, conns)
                        if key not in best or r["rps"] > best[key]["rps"]:
                            best[key] = r
            finally:
                stop(proc)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of load first")
    parser.add_argument("--concurrency", default="1,8")
    parser.add_argument("--servers", default="dh-serverless,floor,MLServer,KServe")
    parser.add_argument("--cases", default="all", help="comma-separated case numbers (1-5)")
    parser.add_argument(
        "--source", type=Path, help="also serve from this checkout (before a change), in turns"
    )
    args = parser.parse_args()
    for tool in ("wrk", "h2load"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed: apt-get install wrk nghttp2-client")
    servers = []
    for name in args.servers.split(","):
        servers += ["floor (aiohttp)", "floor (grpc.aio)"] if name == "floor" else [name]
    if args.source is not None:
        servers.insert(servers.index("dh-serverless") + 1 if "dh-serverless" in servers else 0,
                       BEFORE)  # fmt: skip
    cases = CASES if args.cases == "all" else [CASES[int(i) - 1] for i in args.cases.split(",")]
    levels = [int(c) for c in args.concurrency.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        best = sweep(
            servers, cases, levels, args.rounds, work,
            start=lambda server, folder: start(server, folder, args.source),
            supports=supports, write_body=write_body, check_answer=check_answer,
            load=lambda server, *rest, **kw: measure(
                *rest, **kw, seconds=args.duration, work=work, warmup=args.warmup
            ),
            extra=lambda r: "",
        )  # fmt: skip
    print_table(best, servers, cases, levels, args)


def print_table(best, servers, cases, levels, args) -> None:
    import platform

    print(
        f"\nbench/openinference: FP32 identity; {args.duration:g} s per run, best of "
        f"{args.rounds} round(s); server on CPU {SERVER_CPU}, load on CPU {LOAD_CPU}; "
        "REST: wrk -t1 -cN (keep-alive); gRPC: h2load -c1 -mN (one connection, N streams); "
        f"dh-serverless: tensors: numpy, async handler, uvloop; Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs, shared machine\n"
    )
    print(
        "| case | c | server | req/s | p50 ms | p99 ms | server CPU µs/req "
        "| ours ÷ best peer | ours ÷ floor | per CPU: ÷ best peer | per CPU: ÷ floor |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for case in cases:
        for conns in levels:
            rows = [(s, best.get((s, case.name, conns))) for s in servers]
            rows = [(s, r) for s, r in rows if r is not None]
            peers = [r for s, r in rows if s in PEERS and not r["errors"] and r["rps"] > 0]
            floors = [r for s, r in rows if s.startswith("floor") and r["rps"] > 0]
            for server, r in rows:
                ratios = ["", "", "", ""]
                ours = r if server in ("dh-serverless", BEFORE) else None
                if ours is not None:
                    mine = ours["cpu_per_request"]
                    if peers:
                        ratios[0] = f"**{ours['rps'] / max(p['rps'] for p in peers):.2f}x**"
                        cheapest = min(p["cpu_per_request"] for p in peers)
                        ratios[2] = f"{cheapest / mine:.2f}x" if mine else ""
                    if floors:
                        ratios[1] = f"{ours['rps'] / floors[0]['rps']:.2f}x"
                        ratios[3] = f"{floors[0]['cpu_per_request'] / mine:.2f}x" if mine else ""
                flag = f" ({r['errors']} errors)" if r["errors"] else ""
                print(
                    f"| {case.name} | {conns} | {server}{flag} | {r['rps']:.0f} | "
                    f"{r['p50']:.2f} | {r['p99']:.2f} | {r['cpu_per_request'] * 1e6:.0f} | "
                    + " | ".join(ratios)
                    + " |"
                )
            missing = [s for s in PEERS if s in servers and not supports(s, case)]
            for server in missing:
                print(f"| {case.name} | {conns} | {server} | not supported | | | | | | | |")


if __name__ == "__main__":
    main()
