"""bench/instructions: the CPU instructions a server executes per request, counted by callgrind.

On a shared machine the time a request takes drifts by 20 % and more from one run to the
next; the instructions a server executes for it hardly do. Each server runs under
``valgrind --tool=callgrind --instr-atstart=no`` (counting off). Once it answers, a warm-up
of ``--warmup`` requests is sent, counting is switched on (``callgrind_control -i on``) for
``--requests`` requests, and the counts are dumped: every thread of the process, user space
only (the kernel's side of a syscall is not counted, nor are cache misses: instructions are
a proxy for CPU time, a steady one). Load: h2load, 8 HTTP/1.1 connections, or one HTTP/2
connection with 8 streams for gRPC.

Cases and the servers each runs (the floor first; ratios are to it):

- ``oi-json``, ``oi-bin``, ``oi-grpc``: the openinference identity model, FP32 [1,16], REST
  JSON, REST binary extension, gRPC, against the floors of ``bench/openinference``;
- ``extproc-headers``: one ext_proc stream per request carrying a GET's request headers
  (what Envoy sends first; the processor answers CONTINUE), straight from h2load, against
  ``bench/extproc``'s bare grpc.aio processor;
- ``http-async``, ``http-sync``: the http echo of ``bench/http`` (async handler; plain one on
  threads), against bare aiohttp.

``--source DIR`` adds each dh-serverless server run from another checkout (before and after a
change, in one sitting).

    python bench/instructions/run.py [--requests 2000] [--cases oi-json,oi-grpc]
        [--source DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
sys.path.insert(0, str(BENCH))
from common import dh_serverless, free_port, function_yaml, source_path, wait_for  # noqa: E402


def _load(name: str, path: Path) -> object:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


oi: object = _load("oi_bench", BENCH / "openinference" / "run.py")
extproc: object = _load("extproc_bench", BENCH / "extproc" / "run.py")


@dataclass(frozen=True)
class Load:
    """What h2load sends: ``path`` with ``body`` and ``headers``; gRPC or HTTP/1.1."""

    path: str
    body: Path
    headers: tuple[str, ...]
    grpc: bool = False

    def command(self, port: int, requests: int) -> list[str]:
        cmd = ["h2load", "-n", str(requests), "-d", str(self.body)]
        cmd += ["-c1", "-m8"] if self.grpc else ["--h1", "-c8", "-m1"]
        for header in self.headers:
            cmd += ["-H", header]
        return [*cmd, f"http://127.0.0.1:{port}{self.path}"]


#: a server: its name and, given a work folder and a port, the command that starts it
Server = tuple[str, Callable[[Path, int], list[str]]]


def _dh_openinference(grpc: bool) -> Callable[[Path, int], list[str]]:
    def command(work: Path, port: int) -> list[str]:
        rest, grpc_port = (free_port(), port) if grpc else (port, free_port())
        folder = work / f"oi-{port}"
        folder.mkdir()
        return dh_serverless(oi.write_function(folder, rest, grpc_port))  # type: ignore[attr-defined]

    return command


def _dh_http(handler: str) -> Callable[[Path, int], list[str]]:
    def command(work: Path, port: int) -> list[str]:
        shutil.copy(BENCH / "http" / "echo.py", work / "echo.py")
        path = work / f"http-{port}.yaml"
        path.write_text(function_yaml(f"echo:{handler}", port, 32))
        return dh_serverless(path)

    return command


def _dh_extproc(work: Path, port: int) -> list[str]:
    shutil.copy(BENCH / "extproc" / "identity.py", work / "identity.py")
    path = work / f"extproc-{port}.yaml"
    path.write_text(extproc.FUNCTION.format(port=port, processes=1))  # type: ignore[attr-defined]
    return dh_serverless(path)


def _processing_request(path: Path) -> Path:
    """One ext_proc stream: a gRPC frame of ``ProcessingRequest`` with a GET's headers."""
    from envoy.config.core.v3 import base_pb2
    from envoy.service.ext_proc.v3 import external_processor_pb2 as ep

    headers = [("host", "127.0.0.1"), (":method", "GET"), (":path", "/"), ("user-agent", "wrk")]
    request = ep.ProcessingRequest(
        request_headers=ep.HttpHeaders(
            headers=base_pb2.HeaderMap(
                headers=[base_pb2.HeaderValue(key=k, raw_value=v.encode()) for k, v in headers]
            ),
            end_of_stream=True,
        )
    ).SerializeToString()
    path.write_bytes(b"\x00" + len(request).to_bytes(4, "big") + request)
    return path


def _script(path: Path) -> Callable[[Path, int], list[str]]:
    return lambda work, port: [sys.executable, str(path), str(port)]


def cases(work: Path) -> dict[str, tuple[Load, list[Server]]]:
    """Every case: its load, and its servers, the floor first."""
    x = oi.tensor(oi.Case("x", "rest", "json", (1, 16)))  # type: ignore[attr-defined]
    encode = oi.encode_body  # type: ignore[attr-defined]
    json_body, _ = encode("json", x, "identity", work / "json.body")
    bin_body, header = encode("bin", x, "identity", work / "bin.body")
    grpc_body, _ = encode("raw", x, "identity", work / "grpc.body")
    echo = work / "echo.body"
    echo.write_bytes(b"hello, dh-serverless")
    infer = "/v2/models/identity/infer"
    floor_rest = ("floor (aiohttp)", _script(BENCH / "openinference" / "floor_rest.py"))
    rest = [floor_rest, ("dh-serverless", _dh_openinference(grpc=False))]
    bare = ("bare aiohttp", _script(BENCH / "http" / "bare_aiohttp.py"))
    bin_headers = ("content-type: application/octet-stream",
                   f"inference-header-content-length: {header}")  # fmt: skip
    grpc_path = "/inference.GRPCInferenceService/ModelInfer"
    grpc_headers = ("content-type: application/grpc", "te: trailers")
    extproc_path = "/envoy.service.ext_proc.v3.ExternalProcessor/Process"
    extproc_body = _processing_request(work / "extproc.body")
    processors: list[Server] = [
        ("bare grpc.aio", _script(BENCH / "extproc" / "bare_processor.py")),
        ("dh-serverless extproc", _dh_extproc),
    ]
    grpc_servers: list[Server] = [
        ("floor (grpc.aio)", _script(BENCH / "openinference" / "floor_grpc.py")),
        ("dh-serverless", _dh_openinference(grpc=True)),
    ]
    return {
        "oi-json": (Load(infer, json_body, ("content-type: application/json",)), rest),
        "oi-bin": (Load(infer, bin_body, bin_headers), rest),
        "oi-grpc": (Load(grpc_path, grpc_body, grpc_headers, grpc=True), grpc_servers),
        "extproc-headers": (Load(extproc_path, extproc_body, grpc_headers, grpc=True), processors),
        "http-async": (
            Load("/", echo, ("content-type: text/plain",)),
            [bare, ("dh-serverless async", _dh_http("handler"))],
        ),
        "http-sync": (
            Load("/", echo, ("content-type: text/plain",)),
            [bare, ("dh-serverless sync (threads)", _dh_http("sync_handler"))],
        ),
    }


def _h2load(cmd: list[str], requests: int) -> None:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900).stdout
    done = re.search(r"(\d+) succeeded", out)
    if done is None or int(done.group(1)) != requests:
        raise RuntimeError(f"{' '.join(cmd)}: not every request succeeded:\n{out[-1500:]}")


def count(cmd: list[str], load: Load, port: int, work: Path, env: dict[str, str],
          requests: int, warmup: int) -> float:  # fmt: skip
    """Instructions per request of the server ``cmd`` listening on ``port``."""
    out = work / f"callgrind-{port}"
    valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                f"--callgrind-out-file={out}.%p", *cmd]  # fmt: skip
    proc = subprocess.Popen(
        valgrind, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for(port, timeout=600)
        _h2load(load.command(port, warmup), warmup)
        subprocess.run(["callgrind_control", "-i", "on", str(proc.pid)], check=True,
                       capture_output=True)  # fmt: skip
        _h2load(load.command(port, requests), requests)
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True,
                       capture_output=True)  # fmt: skip
        dump = Path(f"{out}.{proc.pid}.1")
        deadline = time.monotonic() + 120
        while not (dump.exists() and "\nsummary:" in dump.read_text(errors="replace")):
            if time.monotonic() > deadline:
                raise RuntimeError(f"callgrind wrote no dump for {cmd}")
            time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    summary = re.search(r"^summary: (\d+)", dump.read_text(errors="replace"), re.M)
    assert summary is not None
    return int(summary.group(1)) / requests


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument(
        "--cases", default="oi-json,oi-bin,oi-grpc,extproc-headers,http-async,http-sync"
    )
    parser.add_argument("--source", type=Path, help="also run dh-serverless from this checkout")
    parser.add_argument("--duration", type=float, default=0, help="ignored (bench smoke test)")
    parser.add_argument("--rounds", type=int, default=1, help="ignored (bench smoke test)")
    args = parser.parse_args()
    for tool in ("valgrind", "callgrind_control", "h2load"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed: apt-get install valgrind nghttp2-client")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        table = cases(work)
        for name in args.cases.split(","):
            load, servers = table[name]
            if args.source is not None:
                servers = [*servers, *((f"{n} (--source)", c) for n, c in servers[1:])]
            floor = None
            for server, command in servers:
                env = dict(os.environ)
                if server.endswith("(--source)"):
                    env["PYTHONPATH"] = source_path(args.source)
                port = free_port()
                per = count(command(work, port), load, port, work, env, args.requests,
                            args.warmup)  # fmt: skip
                floor = floor or per
                rows.append((name, server, per, per / floor))
                print(f"{name:10s} {server:32s} {per:10.0f} instructions/request",
                      file=sys.stderr)  # fmt: skip
    print(f"bench/instructions: callgrind, {args.requests} requests after {args.warmup}; "
          f"python {sys.version.split()[0]}")  # fmt: skip
    print()
    print("| case | server | instructions per request | ÷ floor |")
    print("|---|---|---:|---:|")
    for name, server, per, ratio in rows:
        print(f"| {name} | {server} | {per / 1000:.0f} k | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
