"""Worker processes, for CPU-bound pure-Python handlers (``spec.workerKind: process``).

Each worker is a *spawned* interpreter (never forked: no inherited locks, threads or
sockets) that imports the handler and runs ``init_context`` with its own
``worker_id``. The parent talks to it over a socket pair, on the event loop itself (no
thread hop per event). Bodies cross as raw byte messages next to a small pickled
header: a 1 MiB body is written once into the socket and read once out of it. Other
values (a trigger's own event bodies, the ``value`` of a :class:`Converted` result of a
trigger's ``result_converter``) are pickled with protocol 5: numpy arrays and other
buffers follow as raw messages of their own, never as pickled lists.

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
import socket
import sys
from multiprocessing.connection import Connection
from typing import Any

import attrs

from dh_serverless.core.channel import Channel
from dh_serverless.core.compat import TIMEOUT_ERRORS
from dh_serverless.core.errors import HandlerLoadError
from dh_serverless.core.function import LoadedHandler
from dh_serverless.core.responses import to_response
from dh_serverless.core.workers import (
    HANDLER_FAILURES,
    Worker,
    WorkerOptions,
    checked_converter,
    handler_failed,
)
from dh_serverless.hookspecs.errors import EventTimeoutError, WorkerLostError
from dh_serverless.hookspecs.types import Converted, Event, Response, TriggerInfo

__all__ = ("ProcessWorker",)

_SPAWN = multiprocessing.get_context("spawn")
_SOCKET_BUFFER = 4 * 1024 * 1024
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
    converter: str | None = None


def _callable_path(fn: Any) -> str | None:
    """``module:qualname`` of a converter other than Nuclio's, for the child to import."""
    if fn is to_response:
        return None
    return f"{fn.__module__}:{fn.__qualname__}"


def _import_callable(path: str) -> Any:
    import importlib

    module, _, qualname = path.partition(":")
    target: Any = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


def _pickle_out_of_band(value: Any) -> tuple[bytes, list[memoryview]]:
    """``value`` pickled (protocol 5) and the raw buffers that travel beside it."""
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(value, protocol=5, buffer_callback=buffers.append)
    return data, [b.raw() for b in buffers]


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
            _callable_path(options.convert),
        )  # fmt: skip
        parent_sock, child_sock = socket.socketpair()
        for sock in (parent_sock, child_sock):  # fewer system calls per large body
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SOCKET_BUFFER)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _SOCKET_BUFFER)
        self._sock = parent_sock
        self._child_conn = Connection(child_sock.detach())
        self._channel: Channel | None = None
        # One exchange at a time on the channel: a drain or terminate request waits for
        # the in-flight event's reply, which would otherwise be read as its own answer.
        self._exchange = asyncio.Lock()
        self.process = _SPAWN.Process(
            target=_child_main, args=(self._child_conn, child), daemon=True,
            name=f"dh-worker-{options.trigger.name}-{worker_id}",
        )  # fmt: skip

    async def _receive(self) -> Any:
        assert self._channel is not None
        return pickle.loads(await self._channel.receive())

    async def start(self) -> None:
        """Spawn the process and wait until its ``init_context`` finished."""
        self.process.start()
        self._child_conn.close()
        _, self._channel = await asyncio.get_running_loop().create_unix_connection(
            Channel, sock=self._sock
        )
        try:
            reply = await self._receive()
        except (EOFError, OSError):
            await asyncio.get_running_loop().run_in_executor(None, self.process.join, 5)
            raise HandlerLoadError(
                f"worker process {self.worker_id} exited while starting "
                f"(exit code {self.process.exitcode})"
            ) from None
        if reply[0] != "ready":
            raise HandlerLoadError(reply[1])

    @property
    def alive(self) -> bool:
        """False once the process is gone (its end of the socket pair closed)."""
        channel = self._channel
        return channel is not None and not channel.closed and self.process.is_alive()

    async def _roundtrip(self, event: Event) -> Response:
        async with self._exchange:
            return await self._exchange_event(event)

    async def _exchange_event(self, event: Event) -> Response:
        body = event.body
        header = [getattr(event, name) for name in _EVENT_FIELDS]
        if isinstance(body, bytes):
            pickled, frames = None, [body]
        else:
            pickled, frames = _pickle_out_of_band(body)  # type: ignore[assignment]
        message = ("event", pickled, len(frames), event.trigger.kind, event.trigger.name, header)
        try:
            channel = self._channel
            assert channel is not None
            channel.send(pickle.dumps(message, protocol=5), *frames)
            await channel.drain()
            status, headers, content_type, pickled, count = pickle.loads(await channel.receive())
            received = [await channel.receive() for _ in range(count)]
            if pickled is not None:  # a Converted: its value, then its body
                value = pickle.loads(pickled, buffers=received[:-1])
                return Converted(value, status, headers, content_type, received[-1])
        except (EOFError, OSError):
            self.lost = True
            # reap it, so that its exit code is known (not None)
            await asyncio.get_running_loop().run_in_executor(None, self.process.join, 1)
            raise WorkerLostError(
                f"worker process {self.worker_id} died while handling the event "
                f"(exit code {self.process.exitcode})"
            ) from None
        return Response(
            headers=headers, body=received[0], content_type=content_type, status_code=status
        )

    async def handle(self, event: Event, timeout: float | None) -> Response:
        try:
            if timeout is None:
                return await self._roundtrip(event)
            return await asyncio.wait_for(self._roundtrip(event), timeout)
        except TIMEOUT_ERRORS:
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

    async def _control(self, what: str) -> None:
        async with self._exchange:  # after the event in flight, if any
            if self.lost:
                return
            try:
                assert self._channel is not None
                self._channel.send(pickle.dumps((what,)))
                await self._receive()
            except (EOFError, OSError):
                pass

    async def drain(self) -> None:
        if not self.lost and self.process.is_alive() and self._channel is not None:
            await self._control("drain")

    async def terminate(self) -> None:
        if not self.lost and self.process.is_alive() and self._channel is not None:
            await self._control("terminate")

    async def stop(self) -> None:
        """Ask the process to exit, kill it if it does not within 2 s, and reap it."""
        if self.process.pid is not None and self.process.is_alive():
            if not self.lost and self._channel is not None:
                with contextlib.suppress(OSError, RuntimeError):
                    self._channel.send(pickle.dumps(("stop",)))
            await asyncio.get_running_loop().run_in_executor(None, self.process.join, 2)
            if self.process.is_alive():
                self.process.kill()
                await asyncio.get_running_loop().run_in_executor(None, self.process.join, 2)
        if self._channel is not None:
            self._channel.close()
        else:
            self._sock.close()


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
    from dh_serverless.core.workers import call_handler, make_context

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
        convert = checked_converter(
            to_response if cfg.converter is None else _import_callable(cfg.converter)
        )
        if loaded.init_context is not None:
            result = loaded.init_context(context)
            if inspect.iscoroutine(result):
                loop.run_until_complete(result)
    except HANDLER_FAILURES as exc:  # reported to the parent, which exits non-zero
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
            _, pickled, count, trigger_kind, trigger_name, header = message
            frames = [conn.recv_bytes() for _ in range(count)]
            body = frames[0] if pickled is None else pickle.loads(pickled, buffers=frames)
            event = Event(body=body, trigger=TriggerInfo(trigger_kind, trigger_name))
            for name, value in zip(_EVENT_FIELDS, header, strict=True):
                setattr(event, name, value)
            response = call_handler(handler, context, event, cfg.debug, convert)
            if not isinstance(response, Response):
                try:
                    response = convert(loop.run_until_complete(response))
                except HANDLER_FAILURES as exc:
                    response = handler_failed(exc, context, cfg.debug)
            _send_response(conn, response, context, cfg.debug)
        elif kind in ("drain", "terminate"):
            platform = context.platform
            run = (
                platform.run_drain_callback
                if kind == "drain"
                else platform.run_termination_callback
            )
            try:
                loop.run_until_complete(run())
            except HANDLER_FAILURES as exc:
                handler_failed(exc, context, cfg.debug)
            conn.send_bytes(pickle.dumps(("done",)))
        else:
            break
    loop.close()
    os._exit(0)


def _send_response(conn: Connection, response: Response, context: Any, debug: bool) -> None:
    """Send a response: its ``bytes`` body raw; for a :class:`Converted`, its value pickled
    with its buffers as raw frames, then its body."""
    pickled: bytes | None = None
    frames: list[Any] = [response.body]
    if isinstance(response, Converted):
        try:
            pickled, buffers = _pickle_out_of_band(response.value)
            frames = [*buffers, response.body]
        except Exception as exc:  # noqa: BLE001 - an unpicklable result is the handler's error
            response = handler_failed(exc, context, debug)
            pickled, frames = None, [response.body]
    head = (response.status_code, response.headers, response.content_type, pickled, len(frames))
    conn.send_bytes(pickle.dumps(head))
    for frame in frames:
        conn.send_bytes(frame)
