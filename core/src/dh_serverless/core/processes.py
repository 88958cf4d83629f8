"""Worker processes, for CPU-bound pure-Python handlers (``spec.workerKind: process``).

Each worker is a *spawned* interpreter (never forked: no inherited locks, threads or
sockets) that imports the handler and runs ``init_context`` with its own
``worker_id``. The parent talks to it over a pipe from one I/O thread per worker, so
the event loop never blocks. Bodies cross as raw byte messages next to a small pickled
header: a 1 MiB body is written once into the pipe and read once out of it.

A worker whose process dies (crash, ``kill -9``, OOM) or overruns ``eventTimeout``
(it is killed) is marked lost; the event it held gets an error answer and the pool
spawns a replacement, which runs ``init_context`` again.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import multiprocessing
import os
import pickle
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any

import attrs

from dh_serverless.core.errors import HandlerLoadError
from dh_serverless.core.function import LoadedHandler
from dh_serverless.core.workers import Worker, WorkerOptions
from dh_serverless.hookspecs.errors import EventTimeoutError, WorkerLostError
from dh_serverless.hookspecs.types import Event, Response, TriggerInfo

__all__ = ("ProcessWorker",)

_SPAWN = multiprocessing.get_context("spawn")
_EVENT_FIELDS = (
    "content_type", "fields", "headers", "id", "method", "path", "size", "timestamp", "url",
    "shard_id", "num_shards", "type", "type_version", "version", "last_in_batch", "offset", "topic",
)  # fmt: skip


@attrs.frozen
class _ChildConfig:
    handler: str
    folder: str
    worker_id: int
    trigger_kind: str
    trigger_name: str
    namespace: str
    debug: bool
    log_level: int
    json_lines: bool


class ProcessWorker(Worker):
    """One worker running in its own spawned process."""

    def __init__(self, loaded: LoadedHandler, worker_id: int, options: WorkerOptions) -> None:
        super().__init__(loaded, worker_id, options)
        import logging

        from dh_serverless.core.logs import JsonFormatter

        root = logging.getLogger()
        json_lines = any(isinstance(h.formatter, JsonFormatter) for h in root.handlers)
        child = _ChildConfig(
            loaded.spec, str(loaded.folder), worker_id, options.trigger.kind, options.trigger.name,
            options.namespace, options.debug, root.level, json_lines,
        )  # fmt: skip
        self._conn, child_conn = _SPAWN.Pipe(duplex=True)
        self._child_conn = child_conn
        self.process = _SPAWN.Process(
            target=_child_main, args=(child_conn, child), daemon=True,
            name=f"dh-worker-{options.trigger.name}-{worker_id}",
        )  # fmt: skip
        self._io = ThreadPoolExecutor(
            1, thread_name_prefix=f"dh-pipe-{options.trigger.name}-{worker_id}"
        )

    async def _call(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._io, fn, *args)

    async def start(self) -> None:
        """Spawn the process and wait until its ``init_context`` finished."""
        self.process.start()
        self._child_conn.close()
        try:
            reply = await self._call(self._receive)
        except (EOFError, OSError):
            await self._call(self.process.join, 5)
            raise HandlerLoadError(
                f"worker process {self.worker_id} exited while starting "
                f"(exit code {self.process.exitcode})"
            ) from None
        if reply[0] != "ready":
            raise HandlerLoadError(reply[1])

    def _receive(self) -> Any:
        return pickle.loads(self._conn.recv_bytes())

    def _roundtrip(self, event: Event) -> Response:
        body = event.body
        raw = isinstance(body, bytes)
        header = [getattr(event, name) for name in _EVENT_FIELDS]
        message = (
            "event",
            raw,
            None if raw else body,
            event.trigger.kind,
            event.trigger.name,
            header,
        )
        try:
            self._conn.send_bytes(pickle.dumps(message, protocol=5))
            if raw:
                self._conn.send_bytes(body)
            status, headers, content_type = pickle.loads(self._conn.recv_bytes())
            payload = self._conn.recv_bytes()
        except (EOFError, OSError):
            self.lost = True
            self.process.join(1)  # reap it, so that its exit code is known (not None)
            raise WorkerLostError(
                f"worker process {self.worker_id} died while handling the event "
                f"(exit code {self.process.exitcode})"
            ) from None
        return Response(
            headers=headers, body=payload, content_type=content_type, status_code=status
        )

    async def handle(self, event: Event, timeout: float | None) -> Response:
        future = asyncio.get_running_loop().run_in_executor(self._io, self._roundtrip, event)
        try:
            if timeout is None:
                return await future
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            self.lost = True
            self.process.kill()
            raise EventTimeoutError(
                f"handler ran longer than eventTimeout ({timeout:g}s); worker process killed"
            ) from None
        except asyncio.CancelledError:
            # Cancelled mid-event (the grace period ran out): the process is still in the
            # handler and its pipe mid-exchange, so it can serve nothing more.
            self.lost = True
            self.process.kill()
            raise

    def _control(self, what: str) -> None:
        try:
            self._conn.send_bytes(pickle.dumps((what,)))
            self._receive()
        except (EOFError, OSError):
            pass

    async def drain(self) -> None:
        if not self.lost and self.process.is_alive():
            await self._call(self._control, "drain")

    async def terminate(self) -> None:
        if not self.lost and self.process.is_alive():
            await self._call(self._control, "terminate")

    async def stop(self) -> None:
        """Ask the process to exit, kill it if it does not within 2 s, and reap it."""
        if self.process.pid is not None and self.process.is_alive():
            if not self.lost:
                with contextlib.suppress(OSError):
                    self._conn.send_bytes(pickle.dumps(("stop",)))
            await asyncio.get_running_loop().run_in_executor(None, self.process.join, 2)
            if self.process.is_alive():
                self.process.kill()
                await asyncio.get_running_loop().run_in_executor(None, self.process.join, 2)
        self._conn.close()
        self._io.shutdown(wait=False, cancel_futures=True)


# ---------------------------------------------------------------------------
# The child process
# ---------------------------------------------------------------------------


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError):  # PR_SET_PDEATHSIG: die with the parent
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)


def _child_main(conn: Connection, cfg: _ChildConfig) -> None:
    """Load the handler, run ``init_context``, then serve events until told to stop."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    from dh_serverless.core.function import load_handler
    from dh_serverless.core.logs import setup_logging
    from dh_serverless.core.responses import to_response
    from dh_serverless.core.workers import call_handler, handler_failed, make_context

    setup_logging(
        {10: "debug", 20: "info", 30: "warning"}.get(cfg.log_level, "error"),
        json_lines=cfg.json_lines,
    )
    loop = asyncio.new_event_loop()
    options = WorkerOptions(
        TriggerInfo(cfg.trigger_kind, cfg.trigger_name), cfg.namespace, cfg.debug
    )
    context = make_context(options, cfg.worker_id)
    try:
        loaded = load_handler(cfg.handler, cfg.folder, debug=cfg.debug)
        if loaded.init_context is not None:
            result = loaded.init_context(context)
            if inspect.iscoroutine(result):
                loop.run_until_complete(result)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which exits non-zero
        conn.send_bytes(pickle.dumps(("error", f"init_context of worker {cfg.worker_id} raised "
                                     f"{type(exc).__name__}: {exc}")))  # fmt: skip
        return
    conn.send_bytes(pickle.dumps(("ready",)))
    handler = loaded.handler
    while True:
        try:
            message = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):
            break
        kind = message[0]
        if kind == "event":
            _, raw, body, trigger_kind, trigger_name, header = message
            if raw:
                body = conn.recv_bytes()
            event = Event(body=body, trigger=TriggerInfo(trigger_kind, trigger_name))
            for name, value in zip(_EVENT_FIELDS, header, strict=True):
                setattr(event, name, value)
            response = call_handler(handler, context, event, cfg.debug)
            if not isinstance(response, Response):
                try:
                    response = to_response(loop.run_until_complete(response))
                except Exception as exc:  # noqa: BLE001
                    response = handler_failed(exc, context, cfg.debug)
            conn.send_bytes(
                pickle.dumps((response.status_code, response.headers, response.content_type))
            )
            conn.send_bytes(response.body)
        elif kind in ("drain", "terminate"):
            platform = context.platform
            run = (
                platform.run_drain_callback
                if kind == "drain"
                else platform.run_termination_callback
            )
            try:
                loop.run_until_complete(run())
            except Exception as exc:  # noqa: BLE001
                handler_failed(exc, context, cfg.debug)
            conn.send_bytes(pickle.dumps(("done",)))
        else:
            break
    loop.close()
    os._exit(0)
