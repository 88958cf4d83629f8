"""Run a function as a real ``dh-serverless run`` process, for plugin end-to-end tests.

:class:`FunctionProcess` is the one way to start it (sync tests use it directly;
:class:`RunningFunction` adds async waits)::

    with FunctionProcess(tmp_path / "function.yaml") as function:
        function.wait_ready()
        ...
        assert function.stop() == 0

or, in an async test::

    async with RunningFunction(tmp_path / "function.yaml") as function:
        await function.wait_ready()
        ...                                   # talk to the trigger's port
        assert await function.metric("dh_events", outcome="ok") == 1  # or dh_events_total
        assert await function.terminate() == 0

The health server listens on a free port of 127.0.0.1; the output goes to a log file next
to the configuration (``function.log()``). ``close()`` kills what is still running, by PID.
A trigger configured with ``port: 0`` takes a port from the kernel: ``function.ports()``
lists the ports the process listens on besides its health server.

To test a sink or a trigger without a process, see :mod:`dh_serverless.testing.function`.
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
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from dh_serverless.testing.metrics import text_value
from dh_serverless.testing.ports import free_port
from dh_serverless.testing.sockets import listening_ports

__all__ = (
    "HOST",
    "Commands",
    "FunctionProcess",
    "RunningFunction",
    "code_blocks",
    "dh_command",
    "eventually",
    "free_port",
    "metric_sum",
    "stop_process",
    "wait_for_text",
    "wait_listening",
)

HOST = "127.0.0.1"


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


def _direct_get(url: str, timeout: float) -> tuple[int, bytes]:
    """GET ``url`` without any proxy: (status, body), also for 4xx/5xx answers."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return int(exc.code), bytes(exc.read())


def wait_listening(
    port: int, proc: subprocess.Popen[Any] | None = None, timeout: float = 30, host: str = HOST
) -> None:
    """Until something accepts connections on ``host:port``; ``AssertionError`` if ``proc``
    exits first or after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), socket.create_connection((host, port), 0.2):
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited {proc.returncode} before listening on {port}")
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing listens on {host}:{port} after {timeout}s")
        time.sleep(0.05)


class FunctionProcess:
    """One ``dh-serverless run CONFIG`` process, the one way tests run a function as a
    process: started at once, its output in a log file, stopped by its PID.

    :param config: the ``function.yaml`` to run.
    :param args: more command-line arguments (``--debug``, ``--log-format json``, ...).
    :param env: variables added to this process's environment (proxies are left out).
    :param cwd: its working folder (default: the configuration's folder).
    :param log_path: where its output goes (default: ``output.log`` beside the configuration).
    :param health_port: the health server's port on 127.0.0.1 (default: a free one).
    :param command: what runs before the health flags and ``args`` (default
        ``dh-serverless run CONFIG``; e.g. ``dh-serverless-processor --config CONFIG``).

    Use it as a context manager, or call :meth:`close`, so nothing outlives the test.
    """

    def __init__(
        self,
        config: Path,
        *,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        log_path: Path | None = None,
        health_port: int | None = None,
        command: Sequence[str] | None = None,
    ) -> None:
        self.config = config
        self.health_port = health_port or free_port()
        self.log_path = log_path or config.with_name("output.log")
        self._log = self.log_path.open("wb")
        base = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        head = [dh_command(), "run", str(config)] if command is None else list(command)
        self.proc = subprocess.Popen(
            [*head, "--health-host", HOST, "--health-port", str(self.health_port), *args],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            env={**base, "PYTHONUNBUFFERED": "1", **(env or {})}, cwd=cwd or config.parent,
        )  # fmt: skip

    @property
    def pid(self) -> int:
        """The process id."""
        return self.proc.pid

    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.proc.poll() is None

    def log(self) -> str:
        """Everything the process wrote so far."""
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def health(self, path: str = "/ready", timeout: float = 5) -> tuple[int, bytes]:
        """GET ``path`` of the health server: (status, body)."""
        return _direct_get(f"http://{HOST}:{self.health_port}{path}", timeout)

    def wait_ready(self, timeout: float = 20) -> None:
        """Wait for ``/ready`` to answer 200; ``AssertionError`` with the log if the process
        exits first or after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"dh-serverless exited {self.proc.returncode}:\n{self.log()}")
            with contextlib.suppress(OSError):
                if self.health("/ready", timeout=1)[0] == 200:
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"/ready not 200 after {timeout}s:\n{self.log()}")
            time.sleep(0.05)

    def wait_listening(self, *ports: int, timeout: float = 30) -> None:
        """Wait until each of ``ports`` (and the health port) accepts connections;
        ``AssertionError`` with the log if the process exits first or after ``timeout``."""
        deadline = time.monotonic() + timeout
        try:
            for port in (*ports, self.health_port):
                wait_listening(port, self.proc, max(0.0, deadline - time.monotonic()))
        except AssertionError as exc:
            raise AssertionError(f"{exc}:\n{self.log()}") from None

    def metrics_text(self) -> str:
        """The health server's ``/metrics`` page."""
        status, body = self.health("/metrics")
        assert status == 200, f"/metrics answered {status}"
        return body.decode()

    def metric(self, name: str, **labels: str) -> float:
        """The sum of the samples of ``name`` on ``/metrics`` whose labels include ``labels``.

        ``name`` as a plugin names it (``dh_events``) or as ``/metrics`` shows the sample
        (``dh_events_total``); a metric the page does not export raises
        :class:`~dh_serverless.testing.metrics.MetricNotFound` naming the nearest ones.
        """
        return text_value(self.metrics_text(), name, **labels)

    def ports(self) -> list[int]:
        """The ports the process listens on (TCP, and UDP bound without a peer) besides
        its health server: with ``port: 0``, those its triggers and sinks were given."""
        return sorted(listening_ports(self.pid) - {self.health_port})

    def stop(self, sig: int = signal.SIGTERM, grace: float = 15) -> int:
        """Send ``sig`` by PID, wait ``grace`` seconds, then SIGKILL; return the exit code."""
        code = stop_process(self.proc, sig, grace)
        self._log.flush()
        return code

    def close(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL 15 s later) if it still runs; release
        the log."""
        stop_process(self.proc, grace=15)
        self._log.close()

    def __enter__(self) -> FunctionProcess:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def metric_sum(text: str, name: str, **labels: str) -> float:
    """The sum of the samples named exactly ``name`` in the Prometheus ``text`` whose
    labels include ``labels``; ``0`` when there are none (see
    :func:`~dh_serverless.testing.metrics.text_value` for the checked reading)."""
    wanted = set(labels.items())
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and wanted <= set(sample.labels.items())
    )


class RunningFunction:
    """One ``dh-serverless run CONFIG`` process (a :class:`FunctionProcess`) for async tests.

    :param config: the ``function.yaml`` to run (the process runs in its folder).
    :param args: more command-line arguments (``--debug``, ...).
    :param env: variables added to this process's environment (proxies are left out).
    :param health_port: the health server's port on 127.0.0.1 (default: a free one).
    :param command: as :class:`FunctionProcess`'s (then ``args`` are passed as given).
    """

    def __init__(
        self,
        config: Path,
        *,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        health_port: int | None = None,
        command: Sequence[str] | None = None,
    ) -> None:
        self.config = config
        if command is None:
            args = ["--log-format", "text", *args]
        self.process = FunctionProcess(
            config, args=args, env=env, health_port=health_port, command=command
        )
        self.proc = self.process.proc
        self.health_port = self.process.health_port
        self.log_path = self.process.log_path
        self.session = aiohttp.ClientSession()

    def log(self) -> str:
        """Everything the process wrote so far."""
        return self.process.log()

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

    async def metrics_text(self) -> str:
        """The health server's ``/metrics`` page."""
        async with self.session.get(f"http://{HOST}:{self.health_port}/metrics") as r:
            return await r.text()

    async def metric(self, name: str, **labels: str) -> float:
        """As :meth:`FunctionProcess.metric`: the user's name or the sample name; an
        unknown metric raises ``MetricNotFound``."""
        return text_value(await self.metrics_text(), name, **labels)

    def ports(self) -> list[int]:
        """As :meth:`FunctionProcess.ports`."""
        return self.process.ports()

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
        self.process.close()

    async def __aenter__(self) -> RunningFunction:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
