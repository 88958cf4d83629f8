"""Helpers of the openinference tests: run functions with ``dh-serverless run`` in real
processes, on 127.0.0.1 ports (imported by name: ``conftest`` puts this folder on the path)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from dh_serverless.testing.processes import FunctionProcess, stop_process

HERE = Path(__file__).resolve().parent
FUNCTIONS = HERE / "functions"
ROOT = HERE.parents[2]
BIN = Path(sys.executable).parent


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
    with FunctionProcess(path, log_path=log, cwd=folder) as function:
        ports = {**ports, "health": function.health_port}
        listen = [p for k, p in ports.items() if isinstance(p, int) and k != "health"]
        try:
            function.wait_listening(*listen, timeout=timeout)
        except AssertionError as exc:
            raise RuntimeError(str(exc)) from None
        yield Server(function.proc, log, ports)
