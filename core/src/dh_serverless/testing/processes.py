"""Run a function as a real ``dh-serverless run`` process, for plugin end-to-end tests.

::

    async with RunningFunction(tmp_path / "function.yaml") as function:
        await function.wait_ready()
        ...                                   # talk to the trigger's port
        assert await function.metric("dh_events_total", outcome="ok") == 1
        assert await function.terminate() == 0

The health server listens on a free port of 127.0.0.1; the output goes to a log file next
to the configuration (``function.log()``). ``close()`` kills what is still running, by PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
import yaml
from prometheus_client.parser import text_string_to_metric_families

__all__ = (
    "HOST",
    "Commands",
    "RunningFunction",
    "SinkFunction",
    "code_blocks",
    "dh_command",
    "eventually",
    "free_port",
    "stop_process",
    "wait_for_text",
)

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


async def eventually(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``predicate`` (sync or async) until it is truthy; ``AssertionError`` after
    ``timeout`` seconds, naming ``what`` was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


def dh_command() -> str:
    """The ``dh-serverless`` command of the running interpreter's environment."""
    return shutil.which("dh-serverless", path=str(Path(sys.executable).parent)) or "dh-serverless"


def stop_process(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, grace: float = 10) -> int:
    """Send ``sig`` to ``proc`` by its PID, wait ``grace`` seconds, then SIGKILL it;
    return its exit code."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode


def code_blocks(markdown: str, language: str) -> list[str]:
    """The fenced code blocks of ``markdown`` in ``language`` (```` ```python ````), in order."""
    return re.findall(rf"```{language}\n(.*?)```", markdown, flags=re.S)


def wait_for_text(path: Path, text: str, timeout: float = 15) -> str:
    """Wait until the file at ``path`` contains ``text``; return its content.
    ``AssertionError`` with the content after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    content = ""
    while time.monotonic() < deadline:
        content = path.read_text(errors="replace") if path.exists() else ""
        if text in content:
            return content
        time.sleep(0.05)
    raise AssertionError(f"{path.name} never showed {text!r}:\n{content}")


class Commands:
    """Commands run in ``folder`` the way a README tells a user to, each writing to
    ``<name>.log`` there, with only this environment's ``bin`` on ``PATH``.

    ``stop()`` ends them all by PID, in the order they started (SIGTERM, then SIGKILL);
    use it in a ``finally`` or a fixture.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, *args: str) -> tuple[subprocess.Popen[bytes], Path]:
        """Start ``args``; return the process and its log (appended to on a restart)."""
        log = self.folder / f"{name}.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                args, cwd=self.folder, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={"PATH": str(Path(sys.executable).parent), "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip
        self.procs.append(proc)
        return proc, log

    def stop(self, *procs: subprocess.Popen[bytes]) -> None:
        """Stop ``procs``, or every process started here when none is named."""
        for proc in procs or self.procs:
            stop_process(proc)


class RunningFunction:
    """One ``dh-serverless run CONFIG`` process.

    :param config: the ``function.yaml`` to run (the process runs in its folder).
    :param args: more command-line arguments (``--debug``, ...).
    :param env: variables added to this process's environment (proxies are left out).
    """

    def __init__(
        self, config: Path, *, args: Sequence[str] = (), env: dict[str, str] | None = None
    ) -> None:
        self.config = config
        self.health_port = free_port()
        self.log_path = config.with_name("output.log")
        self._log = self.log_path.open("wb")
        base = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        self.proc = subprocess.Popen(
            [dh_command(), "run", str(config), "--log-format", "text", "--health-host", HOST,
             "--health-port", str(self.health_port), *args],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            env={**base, "PYTHONUNBUFFERED": "1", **(env or {})}, cwd=config.parent,
        )  # fmt: skip
        self.session = aiohttp.ClientSession()

    def log(self) -> str:
        """Everything the process wrote so far."""
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    async def wait_ready(self, timeout: float = 20) -> None:
        """Wait for ``/ready`` to answer 200; fail with the log if the process exits."""

        async def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"dh-serverless exited {self.proc.returncode}:\n{self.log()}")
            try:
                async with self.session.get(f"http://{HOST}:{self.health_port}/ready") as r:
                    return r.status == 200
            except aiohttp.ClientError:
                return False

        await eventually(ready, timeout, "/ready 200")

    async def metric(self, name: str, **labels: str) -> float:
        """The sum of the samples of ``name`` on ``/metrics`` whose labels include ``labels``."""
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
        """SIGTERM, then wait for the exit; return the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"still running {timeout}s after SIGTERM:\n{self.log()}")
            await asyncio.sleep(0.05)
        return self.proc.returncode

    async def close(self) -> None:
        """Kill the process if it still runs, and release the log and the HTTP session."""
        await self.session.close()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()

    async def __aenter__(self) -> RunningFunction:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


_ECHO_HANDLER = """
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


class SinkFunction(RunningFunction):
    """A sink fed by the ``http`` trigger (``dh-trigger-http`` must be installed): what a
    test POSTs comes back as the response the sink receives.

    The handler echoes the body with its content type, answers the status in the
    ``status`` query parameter and raises on ``/raise``; query parameters become event
    fields (``?frame_num=7`` looks to a sink like the mjpeg trigger's frame number).

    :param folder: an empty folder for ``main.py``, ``function.yaml`` and the log.
    :param sink: the trigger's ``attributes.sink`` (``{"kind": ..., "attributes": ...}``).
    :param workers: the http trigger's ``maxWorkers``.
    """

    def __init__(self, folder: Path, sink: dict[str, Any], *, workers: int = 1) -> None:
        self.folder = folder
        self.port = free_port()
        (folder / "main.py").write_text(_ECHO_HANDLER)
        trigger = {"kind": "http", "maxWorkers": workers,
                   "attributes": {"host": HOST, "port": self.port, "sink": sink}}  # fmt: skip
        config = {
            "apiVersion": "nuclio.io/v1",
            "kind": "NuclioFunction",
            "metadata": {"name": "sinks"},
            "spec": {"handler": "main:handler", "triggers": {"web": trigger}},
        }
        path = folder / "function.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        super().__init__(path)

    async def post(
        self,
        body: bytes,
        content_type: str = "application/octet-stream",
        path: str = "/",
        **query: Any,
    ) -> int:
        """POST ``body`` to the trigger (query parameters from ``query``); return the status."""
        url = f"http://{HOST}:{self.port}{path}"
        params = {k: str(v) for k, v in query.items()}
        headers = {"Content-Type": content_type}
        async with self.session.post(url, data=body, params=params, headers=headers) as r:
            await r.read()
            return r.status
