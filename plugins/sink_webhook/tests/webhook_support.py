"""A real ``dh-serverless run function.yaml`` with the ``http`` trigger and a sink.

The handler echoes the request body with its content type, answers the status in the
``status`` query parameter, and raises on ``/raise``; the query parameters become event
fields, so ``?frame_num=7`` is what the mjpeg trigger's frame number looks like to a sink.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

HOST = "127.0.0.1"
DH = shutil.which("dh-serverless", path=str(Path(sys.executable).parent)) or "dh-serverless"

HANDLER = """
def handler(context, event):
    if event.path == "/raise":
        raise RuntimeError("boom")
    status = int(event.get_field("status") or 200)
    return context.Response(
        body=event.body,
        content_type=event.content_type or "application/octet-stream",
        status_code=status,
    )
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


async def eventually(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``predicate`` (sync or async) until it is truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


class Function:
    """One ``dh-serverless run`` process with an http trigger whose sink is ``sink``."""

    def __init__(self, folder: Path, sink: dict[str, Any], *, workers: int = 1) -> None:
        self.folder = folder
        self.port = free_port()
        self.health_port = free_port()
        (folder / "main.py").write_text(HANDLER)
        config = {
            "apiVersion": "nuclio.io/v1",
            "kind": "NuclioFunction",
            "metadata": {"name": "sinks"},
            "spec": {
                "handler": "main:handler",
                "triggers": {
                    "web": {
                        "kind": "http",
                        "maxWorkers": workers,
                        "attributes": {"host": HOST, "port": self.port, "sink": sink},
                    }
                },
            },
        }
        self.config = folder / "function.yaml"
        self.config.write_text(yaml.safe_dump(config, sort_keys=False))
        self.log_path = folder / "output.log"
        self._log = self.log_path.open("wb")
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        self.proc = subprocess.Popen(
            [DH, "run", str(self.config), "--log-format", "text", "--health-host", HOST,
             "--health-port", str(self.health_port)],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            env={**env, "PYTHONUNBUFFERED": "1"}, cwd=folder,
        )  # fmt: skip
        self.session = aiohttp.ClientSession()

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    async def wait_ready(self, timeout: float = 20) -> None:
        async def ready() -> bool:
            if self.proc.poll() is not None:
                pytest.fail(f"dh-serverless exited {self.proc.returncode}:\n{self.log()}")
            try:
                async with self.session.get(f"http://{HOST}:{self.health_port}/ready") as r:
                    return r.status == 200
            except aiohttp.ClientError:
                return False

        await eventually(ready, timeout, "/ready 200")

    async def post(
        self,
        body: bytes,
        content_type: str = "application/octet-stream",
        path: str = "/",
        **query: Any,
    ) -> int:
        """POST ``body`` to the trigger; return the status."""
        url = f"http://{HOST}:{self.port}{path}"
        params = {k: str(v) for k, v in query.items()}
        headers = {"Content-Type": content_type}
        async with self.session.post(url, data=body, params=params, headers=headers) as r:
            await r.read()
            return r.status

    async def metric(self, name: str, **labels: str) -> float:
        """The sum of ``name``'s samples whose labels include ``labels``."""
        async with self.session.get(f"http://{HOST}:{self.health_port}/metrics") as r:
            text = await r.text()
        wanted = set(labels.items())
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == name and wanted <= set(sample.labels.items())
        )

    async def terminate(self, timeout: float = 20) -> int:
        """SIGTERM; return the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                pytest.fail(f"still running {timeout}s after SIGTERM:\n{self.log()}")
            await asyncio.sleep(0.05)
        return self.proc.returncode

    async def close(self) -> None:
        await self.session.close()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()


@pytest.fixture
async def start_function(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """``await start_function(sink_dict, wait=True)``: a running :class:`Function`."""
    started: list[Function] = []

    async def start(sink: dict[str, Any], *, wait: bool = True, workers: int = 1) -> Function:
        folder = tmp_path / f"fn{len(started)}"
        folder.mkdir()
        function = Function(folder, sink, workers=workers)
        started.append(function)
        if wait:
            await function.wait_ready()
        return function

    try:
        yield start
    finally:
        for function in started:
            await function.close()
