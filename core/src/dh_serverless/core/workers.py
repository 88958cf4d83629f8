"""Workers run the handler; a pool of them bounds how many events run at once.

A worker is what Nuclio calls one: its own ``context`` (``worker_id``, ``user_data``)
on which ``init_context`` ran once. Three kinds:

- :class:`AsyncWorker`: ``async def`` handlers, awaited on the event loop;
- :class:`ThreadWorker`: plain handlers, each worker on its own thread;
- ``ProcessWorker`` (:mod:`dh_serverless.core.processes`): a spawned process, for
  CPU-bound pure-Python handlers.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

import attrs

from dh_serverless.core import compat
from dh_serverless.core.compat import TIMEOUT_ERRORS
from dh_serverless.core.errors import HandlerLoadError
from dh_serverless.core.function import LoadedHandler, is_async_callable
from dh_serverless.core.nuclio import Context, Logger, Platform
from dh_serverless.core.responses import error_response, to_response
from dh_serverless.core.scheduling import batch_scheduling
from dh_serverless.hookspecs.errors import EventTimeoutError
from dh_serverless.hookspecs.types import Event, Response, TriggerInfo

__all__ = (
    "HANDLER_FAILURES",
    "AsyncWorker",
    "ThreadWorker",
    "Worker",
    "WorkerOptions",
    "call_handler",
    "checked_converter",
)

_log = logging.getLogger("dh_serverless.workers")

#: What a handler may raise and still only fail its own event: every ``Exception``, and
#: ``SystemExit`` / ``KeyboardInterrupt`` (``sys.exit(3)`` in a handler), which would
#: otherwise stop the event loop and every other event with it. ``CancelledError`` is
#: not among them: it is how the runtime stops a handler.
HANDLER_FAILURES = (Exception, SystemExit, KeyboardInterrupt)


@attrs.frozen
class WorkerOptions:
    """What every worker of one trigger shares.

    ``convert`` turns a handler's return value into the :class:`Response` the trigger
    gets: Nuclio's rules by default, or the trigger's own ``result_converter`` (which the
    workers call through :func:`checked_converter`).
    """

    trigger: TriggerInfo
    namespace: str = "default"
    debug: bool = False
    convert: Callable[[Any], Response] = to_response


def checked_converter(convert: Callable[[Any], Response]) -> Callable[[Any], Response]:
    """``convert``, held to its contract when it is a trigger's ``result_converter``.

    It must return a :class:`~dh_serverless.hookspecs.types.Converted` or a
    :class:`Response` with a ``bytes`` body;
    anything else raises ``TypeError`` naming the converter, which the worker answers as
    a failed event (500), so that a trigger never receives a body of the wrong type.
    Nuclio's conversion is returned as is.
    """
    if convert is to_response:
        return convert
    name = f"{convert.__module__}.{convert.__qualname__}"

    def checked(result: Any) -> Response:
        response = convert(result)
        if isinstance(response, Response) and isinstance(response.body, bytes):
            return response  # a Converted, or an answer converted by Nuclio's rules
        what = (
            f"a Response whose body is {type(response.body).__name__}"
            if isinstance(response, Response)
            else type(response).__name__
        )
        raise TypeError(
            f"the trigger's result_converter {name} returned {what}; "
            "expected Converted(value) or a Response with a bytes body"
        )

    return checked


def make_context(options: WorkerOptions, worker_id: int) -> Context:
    """The Nuclio context of one worker: ``worker_id`` is a string, as in Nuclio."""
    wid = str(worker_id)
    return Context(
        logger=Logger(worker_id=wid),
        platform=Platform(namespace=options.namespace),
        worker_id=wid,
        trigger=options.trigger,
    )


def call_handler(
    handler: Callable[..., Any],
    context: Context,
    event: Event,
    debug: bool,
    convert: Callable[[Any], Response] = to_response,
) -> Any:
    """Call a plain handler and convert its result; a returned coroutine is passed back."""
    try:
        result = handler(context, event)
        if inspect.iscoroutine(result):
            return result
        return convert(result)
    except HANDLER_FAILURES as exc:  # a handler failure is a 500, not a crash
        return handler_failed(exc, context, debug)


def handler_failed(exc: BaseException, context: Context, debug: bool) -> Response:
    """Log a handler's exception with its traceback and answer 500 (or its own answer)."""
    if getattr(exc, "status_code", None) is None:
        _log.error(
            "handler raised %s: %s",
            type(exc).__name__,
            exc,
            exc_info=exc,
            extra={"with": {"worker_id": context.worker_id}},
        )
    return error_response(exc, debug=debug)


class Worker:
    """One worker: a context on which ``init_context`` ran, and a place to run events."""

    lost = False  #: set when the worker can no longer be used and must be replaced

    @property
    def alive(self) -> bool:
        """False when the worker died while idle (a process worker's process is gone)."""
        return True

    @property
    def leftover(self) -> Any:
        """A thread this (stopped) worker leaves running, if any: a thread worker's after
        ``eventTimeout``, still in the handler it cannot be interrupted in."""
        return None

    def __init__(self, loaded: LoadedHandler, worker_id: int, options: WorkerOptions) -> None:
        self.loaded = loaded
        self.worker_id = worker_id
        self.options = options
        self.context = make_context(options, worker_id)
        self.convert = checked_converter(options.convert)

    async def start(self) -> None:
        """Run ``init_context``; raise :class:`HandlerLoadError` if it raises."""
        init = self.loaded.init_context
        if init is None:
            return
        try:
            if is_async_callable(init):
                await init(self.context)
            else:
                await self._run_sync(init, self.context)
        except HANDLER_FAILURES as exc:
            raise HandlerLoadError(
                f"init_context of worker {self.worker_id} raised {type(exc).__name__}: {exc}"
            ) from exc

    async def _run_sync(self, fn: Callable[..., Any], *args: Any) -> Any:
        # Off the loop: a slow sync init_context (loading a model) must not stall /live.
        return await asyncio.to_thread(fn, *args)

    async def handle(self, event: Event, timeout: float | None) -> Response:
        """Run the handler on ``event`` and return the converted response."""
        raise NotImplementedError

    async def drain(self) -> None:
        """Run the drain callback the handler registered, if any."""
        await self.context.platform.run_drain_callback()

    async def terminate(self) -> None:
        """Run the termination callback the handler registered, if any."""
        await self.context.platform.run_termination_callback()

    async def stop(self) -> None:
        """Release the worker's thread or process."""


class AsyncWorker(Worker):
    """Runs an ``async def`` handler on the event loop."""

    async def handle(self, event: Event, timeout: float | None) -> Response:
        try:
            if timeout is None:
                result = await self.loaded.handler(self.context, event)
            else:
                async with compat.timeout(timeout):
                    result = await self.loaded.handler(self.context, event)
            return self.convert(result)
        except TIMEOUT_ERRORS:
            if timeout is not None:
                raise EventTimeoutError(
                    f"handler ran longer than eventTimeout ({timeout:g}s)"
                ) from None
            return handler_failed(TimeoutError("timed out"), self.context, self.options.debug)
        except HANDLER_FAILURES as exc:
            return handler_failed(exc, self.context, self.options.debug)


class ThreadWorker(Worker):
    """Runs a plain handler on the worker's own thread, so the loop never blocks.

    The thread takes calls from a queue and hands each result back to the loop with
    ``call_soon_threadsafe``: one wake-up each way, about half the cost of
    ``run_in_executor``. On Linux the thread runs under ``SCHED_BATCH``, so that waking
    it does not preempt the loop (:mod:`dh_serverless.core.scheduling`). A thread cannot
    be interrupted: after an ``eventTimeout`` the worker is marked lost, its (daemon)
    thread is left to finish on its own and the pool starts a replacement.
    """

    def __init__(self, loaded: LoadedHandler, worker_id: int, options: WorkerOptions) -> None:
        super().__init__(loaded, worker_id, options)
        self._inbox: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._busy = False
        self._thread = threading.Thread(
            target=self._serve, name=f"dh-worker-{options.trigger.name}-{worker_id}", daemon=True
        )
        self._thread.start()

    def _serve(self) -> None:
        batch_scheduling()
        inbox = self._inbox
        while (call := inbox.get()) is not None:
            fn, args, future, loop = call
            self._busy = True
            try:
                outcome, failed = fn(*args), False
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
                outcome, failed = exc, True
            self._busy = False
            try:
                loop.call_soon_threadsafe(_settle, future, outcome, failed)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                return
            # Idle until the next call: hold no reference to this event or its result.
            call = fn = args = future = outcome = None  # type: ignore[assignment]

    def _submit(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._inbox.put((fn, args, future, loop))
        return future

    async def _run_sync(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await self._submit(fn, *args)

    async def handle(self, event: Event, timeout: float | None) -> Response:
        options = self.options
        future = self._submit(
            call_handler, self.loaded.handler, self.context, event, options.debug, self.convert
        )
        try:
            result = await (future if timeout is None else asyncio.wait_for(future, timeout))
        except TIMEOUT_ERRORS:
            self.lost = True
            raise EventTimeoutError(
                f"handler ran longer than eventTimeout ({timeout:g}s)"
            ) from None
        except asyncio.CancelledError:
            self.lost = True  # the thread still runs the handler: nothing else can use it
            raise
        if isinstance(result, Response):
            return result
        try:  # a plain handler returned a coroutine: Nuclio awaits it
            return self.convert(await result)
        except HANDLER_FAILURES as exc:
            return handler_failed(exc, self.context, self.options.debug)

    @property
    def leftover(self) -> threading.Thread | None:
        return self._thread if self._busy and self._thread.is_alive() else None

    async def stop(self) -> None:
        if self._busy:  # a daemon thread: it cannot hold up the exit
            _log.warning(
                "not waiting for thread %s: it is still running a handler", self._thread.name
            )
        self._inbox.put(None)


_Call = tuple[Callable[..., Any], tuple[Any, ...], "asyncio.Future[Any]", asyncio.AbstractEventLoop]


def _settle(future: asyncio.Future[Any], outcome: Any, failed: bool) -> None:
    if future.done():  # cancelled or timed out meanwhile
        return
    if failed:
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
