"""``processes: N``: N-1 more copies of the runtime, each serving the next port.

Envoy sends all streams of one worker over one HTTP/2 connection per endpoint, so one
process per port is what spreads the handler over cores (``SO_REUSEPORT`` would not: there
is one connection). The trigger in the main process starts each copy as a child running the
same command line (``dh-serverless run function.yaml ...``) with ``DH_EXTPROC_COPY`` set to
``<trigger>:<index>:<parent pid>``; in a copy the trigger serves ``port + index`` and starts
nothing more, and the health server takes a free port. Copies are stopped by PID (SIGTERM,
then SIGKILL after the grace period) and stop themselves when the main process dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Callable

from dh_serverless.core.api import TIMEOUT_ERRORS

__all__ = ("ENV", "Copies", "copy_of", "watch_parent")

ENV = "DH_EXTPROC_COPY"


def copy_of(trigger: str) -> tuple[int, int] | None:
    """``(index, parent pid)`` when this process is copy ``index`` of ``trigger``."""
    value = os.environ.get(ENV, "")
    name, _, rest = value.rpartition(":")
    name, _, index = name.rpartition(":")
    if name != trigger or not index.isdigit() or not rest.isdigit():
        return None
    return int(index), int(rest)


def _command() -> list[str]:
    argv = sys.argv
    if len(argv) < 3 or argv[1] != "run":
        raise OSError(
            "processes > 1 needs the function started as `dh-serverless run function.yaml`"
        )
    return [sys.executable, "-m", "dh_serverless.core.cli", *argv[1:], "--health-port", "0"]


async def watch_parent(parent: int, stop: Callable[[int], None]) -> None:
    """Call ``stop(0)`` once ``parent`` is no longer this process's parent."""
    while os.getppid() == parent:  # noqa: ASYNC110 - no event tells of a parent's death
        await asyncio.sleep(0.5)
    stop(0)


def _listening(host: str, port: int) -> bool:
    target = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    with contextlib.suppress(OSError), socket.create_connection((target, port), timeout=0.2):
        return True
    return False


class Copies:
    """The child processes of one trigger."""

    def __init__(self, trigger: str, host: str, base_port: int, count: int) -> None:
        self.trigger = trigger
        self.host = host
        self.base_port = base_port
        self.count = count
        self.children: list[asyncio.subprocess.Process] = []

    async def start(self, timeout: float = 60.0) -> None:
        """Start copies 1..count-1 and wait until each listens; raise OSError otherwise."""
        command = _command()
        for index in range(1, self.count):
            env = dict(os.environ)
            env[ENV] = f"{self.trigger}:{index}:{os.getpid()}"
            child = await asyncio.create_subprocess_exec(*command, env=env)
            self.children.append(child)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for index, child in enumerate(self.children, start=1):
            port = self.base_port + index
            while not await asyncio.to_thread(_listening, self.host, port):
                if child.returncode is not None:
                    raise OSError(f"copy {index} (port {port}) exited with {child.returncode}")
                if loop.time() > deadline:
                    raise OSError(f"copy {index} did not listen on port {port} in {timeout}s")
                await asyncio.sleep(0.1)

    async def stop(self, timeout: float) -> None:
        """SIGTERM every copy, wait up to ``timeout`` seconds, SIGKILL what is left."""
        children, self.children = self.children, []
        for child in children:
            if child.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                await asyncio.wait_for(child.wait(), timeout)
            except TIMEOUT_ERRORS:
                with contextlib.suppress(ProcessLookupError):
                    child.kill()
                await child.wait()
