"""Helpers of the openinference tests: run functions with ``dh-serverless run`` in real
processes, on 127.0.0.1 ports (imported by name: ``conftest`` puts this folder on the path)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from dh_serverless.testing.processes import stop_process

HERE = Path(__file__).resolve().parent
FUNCTIONS = HERE / "functions"
ROOT = HERE.parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A running ``dh-serverless run``: its ports, its process and its log."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path, ports: dict[str, Any]) -> None:
        self.proc = proc
        self.log = log
        self.ports = ports
        self.rest = ports.get("rest")
        self.grpc = ports.get("grpc")
        self.health = ports["health"]

    @property
    def url(self) -> str:
        """``host:port`` of the REST side, as tritonclient.http wants it."""
        return f"127.0.0.1:{self.rest}"

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc}"

    def logs(self) -> str:
        return self.log.read_text(errors="replace")

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.health}/metrics", timeout=5) as r:
            return str(r.read().decode())

    def alive(self) -> bool:
        return self.proc.poll() is None


def function_yaml(handler: str, triggers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "nuclio.io/v1",
        "kind": "NuclioFunction",
        "metadata": {"name": "oi-test"},
        "spec": {"handler": handler, "triggers": triggers, **spec},
    }


def oi_trigger(name: str, rest: int | None, grpc: int | None, **attributes: Any) -> dict[str, Any]:
    workers = attributes.pop("maxWorkers", 2)
    extra = {k: attributes.pop(k) for k in list(attributes) if k.startswith("worker")}
    return {
        "kind": "openinference",
        "maxWorkers": workers,
        **extra,
        "attributes": {
            "model_name": name,
            "host": "127.0.0.1",
            "rest_port": rest or 0,
            "grpc_port": grpc or 0,
            "enable_rest": rest is not None,
            "enable_grpc": grpc is not None,
            **attributes,
        },
    }


def _wait(proc: subprocess.Popen[bytes], log: Path, ports: list[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for port in ports:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"server did not listen on {port}:\n{log.read_text()}"
                    ) from None
                time.sleep(0.05)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process by its PID, then SIGKILL it if it lingers."""
    stop_process(proc, grace=15)


@contextlib.contextmanager
def serve(
    folder: Path,
    config: dict[str, Any],
    files: list[Path],
    *,
    ports: dict[str, Any],
    timeout: float = 30.0,
) -> Iterator[Server]:
    """Copy ``files`` into ``folder``, write ``function.yaml`` and run it until the end."""
    folder.mkdir(parents=True, exist_ok=True)
    for file in files:
        shutil.copy(file, folder / file.name)
    path = folder / "function.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    log = folder / "server.log"
    health = free_port()
    ports = {**ports, "health": health}
    cmd = [
        str(BIN / "dh-serverless"),
        "run",
        str(path),
        "--health-host",
        "127.0.0.1",
        "--health-port",
        str(health),
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=folder)
    try:
        listen = [p for k, p in ports.items() if isinstance(p, int) and k != "health"]
        _wait(proc, log, [*listen, health], timeout)
        yield Server(proc, log, ports)
    finally:
        stop(proc)
