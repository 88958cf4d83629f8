"""Serving processes (``spec.processes: N``): one parent and N-1 spawned children.

The parent is the runtime the user started: it serves like any function and, when
``processes`` is above 1, spawns N-1 children (*spawned* interpreters, never forked), each
running the same function with the same configuration. Every trigger declares how the
processes share its port (``Trigger.serving_processes``): ``"shared_port"`` (every process
binds the same port with ``SO_REUSEPORT`` and the kernel spreads connections) or
``"port_each"`` (process ``i`` serves ``port + i``: for one HTTP/2 peer such as Envoy,
which would send everything over one connection to one process).

Each child serves its own health server on a Unix socket in a private directory. The
parent's health server is the only one users see: ``/ready`` is 200 only when the parent
and every child are ready, and ``/metrics`` is the parent's families summed with every
child's (:func:`merge_metrics`; ``process_*``, ``python_*`` and ``python_gc_*`` families
are the parent's own). On SIGTERM the parent forwards the signal, drains, waits for the
children within ``gracefulShutdownTimeout`` (SIGKILL after it) and exits 0. A child that
dies while the function serves makes the parent drain and exit 1 (the orchestrator restarts
the whole function); a child whose parent dies drains and exits on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import pickle
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from dh_serverless.core.config import FunctionConfig

__all__ = ("ChildRole", "ServingProcesses", "merge_metrics")

_log = logging.getLogger("dh_serverless.runtime")
#: families that describe one interpreter: the parent's are shown, the children's not summed
_OWN_FAMILIES = ("process_", "python_")
_SCRAPE_TIMEOUT = 2.0


@attrs.frozen
class ChildRole:
    """What a child runtime needs to know about its place: index, count, parent, socket."""

    index: int
    count: int
    parent: int
    health_socket: str


@attrs.frozen
class _Payload:
    """Everything a child needs to run the function (pickled across the spawn)."""

    config: FunctionConfig
    source: str
    handler: str | None
    debug: bool
    role: ChildRole
    log_level: int
    json_lines: bool
    path: list[str]


def _json_lines() -> bool:
    from dh_serverless.core.logs import JsonFormatter

    return any(isinstance(h.formatter, JsonFormatter) for h in logging.getLogger().handlers)


def _child_main() -> None:  # pragma: no cover - runs in the child
    """A child: read the pickled :class:`_Payload` from stdin, run the function, exit."""
    payload: _Payload = pickle.loads(sys.stdin.buffer.read())
    sys.stdin.close()
    sys.path[:] = payload.path
    from dh_serverless.core.cli import _run_async
    from dh_serverless.core.errors import UserError
    from dh_serverless.core.logs import set_serving_process, setup_logging
    from dh_serverless.core.runtime import Runtime

    setup_logging(logging.getLevelName(payload.log_level).lower(), json_lines=payload.json_lines)
    set_serving_process(payload.role.index)
    runtime = Runtime(
        payload.config, payload.source, handler=payload.handler, debug=payload.debug,
        role=payload.role,
    )  # fmt: skip
    try:
        code = _run_async(runtime.run())
    except UserError as exc:
        print(f"error: serving process {payload.role.index}: {exc}", file=sys.stderr)
        code = exc.exit_code
    sys.exit(code)


async def watch_parent(parent: int, stop: Callable[[int], None]) -> None:
    """Call ``stop(0)`` once ``parent`` is no longer this process's parent."""
    while os.getppid() == parent:  # noqa: ASYNC110 - no event tells of a parent's death
        await asyncio.sleep(0.5)
    _log.warning("parent process %d is gone: shutting down", parent)
    stop(0)


async def _get(path: str, target: str) -> tuple[int, bytes]:
    """``GET target`` over the Unix socket ``path``: ``(status, body)``."""
    reader, writer = await asyncio.open_unix_connection(path)
    try:
        writer.write(f"GET {target} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
        data = await reader.read()
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, body


class ServingProcesses:
    """The parent's children: spawned, watched, scraped, stopped."""

    def __init__(
        self,
        count: int,
        *,
        config: FunctionConfig,
        source: str,
        handler: str | None,
        debug: bool,
        on_death: Callable[[int, int | None], None],
    ) -> None:
        self.count = count
        self._config = config
        self._source = source
        self._handler = handler
        self._debug = debug
        self._on_death = on_death
        self._dir = ""
        self.children: list[asyncio.subprocess.Process] = []
        self._waits: list[asyncio.Task[None]] = []
        self._stopping = False

    def _socket(self, index: int) -> str:
        return str(Path(self._dir) / f"{index}.sock")

    @property
    def pids(self) -> list[int]:
        """The children's process ids."""
        return [c.pid for c in self.children]

    async def spawn(self) -> None:
        """Start children 1..count-1 (they load and start while the parent does)."""
        from dh_serverless.core.logs import set_serving_process

        set_serving_process(0)
        self._dir = tempfile.mkdtemp(prefix="dh-serverless-")
        loop = asyncio.get_running_loop()
        command = [sys.executable, "-m", "dh_serverless.core.serving_processes"]
        level = logging.getLogger().getEffectiveLevel()
        json_lines = _json_lines()
        for index in range(1, self.count):
            role = ChildRole(index, self.count, os.getpid(), self._socket(index))
            payload = _Payload(
                self._config, self._source, self._handler, self._debug, role, level,
                json_lines, list(sys.path),
            )  # fmt: skip
            child = await asyncio.create_subprocess_exec(*command, stdin=asyncio.subprocess.PIPE)
            assert child.stdin is not None
            child.stdin.write(pickle.dumps(payload))
            await child.stdin.drain()
            child.stdin.close()
            self.children.append(child)
            self._waits.append(loop.create_task(self._watch(index, child)))
        _log.info(
            "serving processes: parent %d, children %s",
            os.getpid(), ", ".join(map(str, self.pids)),
        )  # fmt: skip

    async def _watch(self, index: int, child: asyncio.subprocess.Process) -> None:
        code = await child.wait()
        if not self._stopping:
            self._on_death(index, code)

    async def wait_ready(self) -> None:
        """Return once every child answers ``/ready`` with 200; raise ``OSError`` when one
        exits first."""
        pending = set(range(1, self.count))
        while pending:
            for index in sorted(pending):
                child = self.children[index - 1]
                if child.returncode is not None:
                    raise OSError(
                        f"serving process {index} (pid {child.pid}) exited with code "
                        f"{child.returncode} while starting"
                    )
                if await self._status(index, "/ready") == 200:
                    pending.discard(index)
            if pending:
                await asyncio.sleep(0.05)

    async def _status(self, index: int, target: str) -> int | None:
        try:
            status, _ = await asyncio.wait_for(_get(self._socket(index), target), _SCRAPE_TIMEOUT)
        except (OSError, TimeoutError, ValueError, IndexError):
            return None
        return status

    async def not_ready(self) -> list[int]:
        """The indexes of children not answering ``/ready`` with 200 now."""
        statuses = await asyncio.gather(*(self._status(i, "/ready") for i in range(1, self.count)))
        return [i for i, s in enumerate(statuses, start=1) if s != 200]

    async def scrape(self) -> list[str]:
        """Every reachable child's ``/metrics`` text (a child that does not answer is
        skipped and logged)."""

        async def one(index: int) -> str:
            try:
                status, body = await asyncio.wait_for(
                    _get(self._socket(index), "/metrics"), _SCRAPE_TIMEOUT
                )
            except (OSError, TimeoutError, ValueError, IndexError) as exc:
                _log.warning("serving process %d: /metrics not read: %s", index, exc)
                return ""
            return body.decode("utf-8", "replace") if status == 200 else ""

        return list(await asyncio.gather(*(one(i) for i in range(1, self.count))))

    def terminate(self) -> None:
        """Forward SIGTERM to every child still running."""
        self._stopping = True
        for child in self.children:
            if child.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.send_signal(signal.SIGTERM)

    async def stop(self, timeout: float) -> bool:
        """SIGTERM the children, wait up to ``timeout`` seconds, SIGKILL what is left;
        True when every child exited on its own with code 0."""
        self.terminate()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        clean = True
        for index, child in enumerate(self.children, start=1):
            try:
                await asyncio.wait_for(child.wait(), max(deadline - loop.time(), 0.0))
            except TimeoutError:
                _log.error(
                    "serving process %d (pid %s) still running after %.1fs: killed",
                    index, child.pid, timeout,
                )  # fmt: skip
                with contextlib.suppress(ProcessLookupError):
                    child.kill()
                await child.wait()
                clean = False
            else:
                if child.returncode != 0:
                    _log.error(
                        "serving process %d (pid %s) exited with code %s",
                        index, child.pid, child.returncode,
                    )  # fmt: skip
                    clean = False
        for task in self._waits:
            task.cancel()
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
        return clean


def merge_metrics(own: str, children: Iterable[str]) -> str:
    """Prometheus text of ``own`` with every sample of ``children`` added to the sample of
    the same name and labels (new ones appended); the children's ``process_*`` and
    ``python_*`` families are left out (they describe one interpreter)."""
    from prometheus_client.parser import text_string_to_metric_families

    families: dict[str, Any] = {}
    values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    order: dict[str, list[tuple[str, tuple[tuple[str, str], ...]]]] = {}

    def add(text: str, child: bool) -> None:
        for family in text_string_to_metric_families(text):
            if child and family.name.startswith(_OWN_FAMILIES):
                continue
            if family.name not in families:
                families[family.name] = family
                values[family.name] = {}
                order[family.name] = []
            cells = values[family.name]
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                if key not in cells:
                    cells[key] = 0.0
                    order[family.name].append(key)
                cells[key] += sample.value

    add(own, child=False)
    for text in children:
        add(text, child=True)
    lines: list[str] = []
    for name, family in families.items():
        kind = "untyped" if family.type == "unknown" else family.type
        documentation = family.documentation.replace("\\", r"\\").replace("\n", r"\n")
        lines.append(f"# HELP {name} {documentation}")
        lines.append(f"# TYPE {name} {kind}")
        for sample_name, labels in order[name]:
            value = values[name][(sample_name, labels)]
            rendered = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
            label_text = "{" + rendered + "}" if rendered else ""
            lines.append(f"{sample_name}{label_text} {_number(value)}")
    return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


if __name__ == "__main__":  # pragma: no cover
    _child_main()
