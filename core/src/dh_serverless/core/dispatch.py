"""The dispatch chain a trigger calls per event, and the bounded queue in front of a sink.

Built once per trigger at start-up: middleware from plugins (none: no extra call),
then the core step (take a worker, run the handler under ``eventTimeout``, count the
outcome), then, for a trigger with a sink, a hand-off of successful responses to the
sink's queue that never waits: in completion order, or in dispatch order when the
trigger asks for it (:mod:`dh_serverless.core.ordering`).
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Callable

from dh_serverless.core.handoff import Handoff
from dh_serverless.core.metrics import EventStats, SinkStats
from dh_serverless.core.ordering import InOrder
from dh_serverless.core.pool import WorkerPool
from dh_serverless.hookspecs.errors import DispatchError, ShuttingDownError
from dh_serverless.hookspecs.protocols import Sink
from dh_serverless.hookspecs.types import CallNext, Dispatch, Event, Middleware, Response

__all__ = ("Gate", "SinkChannel", "build_dispatch", "compose")

_log = logging.getLogger("dh_serverless.dispatch")


class Gate:
    """Open while the runtime takes new events; closed once it drains.

    A closed gate still lets through an event dispatched with ``continuation=True``: a
    later message of work already in flight (the next phase of an ext_proc stream), which
    must finish rather than be cut in half.
    """

    __slots__ = ("open",)

    def __init__(self) -> None:
        self.open = True


class SinkChannel:
    """A bounded queue of responses in front of one sink, drained by its own task.

    ``offer`` never waits: when ``capacity`` items wait the oldest is dropped (for frames,
    the newest matters) and counted in ``dh_sink_dropped``. Built on :class:`Handoff`.
    """

    def __init__(
        self,
        sink: Sink,
        stats: SinkStats,
        *,
        capacity: int = 64,
        observe: Callable[[Sink, Response, Event], bool] | None = None,
    ) -> None:
        self.sink = sink
        self.stats = stats
        self.capacity = capacity
        self._observe = observe
        self._handoff: Handoff[tuple[Response, Event]] = Handoff(
            self._emit,
            capacity=capacity,
            policy="drop_oldest",
            on_drop=self._dropped,
            name=f"sink-{sink.kind}",
        )

    @property
    def queued(self) -> int:
        """Items waiting for the sink."""
        return self._handoff.queued

    def offer(self, response: Response, event: Event) -> None:
        """Queue one item for the sink, dropping the oldest if full."""
        self._handoff.offer((response, event))
        self.stats.queued = self._handoff.queued

    def _dropped(self, _: tuple[Response, Event]) -> None:
        self.stats.dropped += 1

    def start(self) -> None:
        """Start draining the queue into the sink."""
        self._handoff.start()

    async def _emit(self, item: tuple[Response, Event]) -> None:
        response, event = item
        self.stats.queued = self._handoff.queued
        if self._observe is not None and not self._observe(self.sink, response, event):
            return
        try:
            await self.sink.emit(response, event)
        except Exception as exc:  # noqa: BLE001 - one failed item must not stop the sink
            self.stats.failed += 1
            _log.warning("sink %s failed to emit: %s: %s", self.sink.kind, type(exc).__name__, exc)
            return
        self.stats.emitted += 1
        stamp = event.timestamp
        if isinstance(stamp, datetime.datetime) and stamp.tzinfo is not None:
            self.stats.age.observe(time.time() - stamp.timestamp())

    def clear(self) -> None:
        """Forget the items waiting (counted as dropped)."""
        self._handoff.clear()
        self.stats.queued = 0

    async def close(self, timeout: float) -> None:
        """Give the sink up to ``timeout`` seconds to emit what is queued, then stop it."""
        await self._handoff.close(timeout)
        self.stats.queued = 0


def build_dispatch(
    pool: WorkerPool,
    gate: Gate,
    *,
    event_timeout: float | None,
    stats: EventStats,
    sink: SinkChannel | None = None,
    sink_order_wait: float | None = None,
) -> Dispatch:
    """The core step: a worker, the handler under ``event_timeout``, and the counting.

    With a ``sink`` and ``sink_order_wait``, successful responses reach the sink in
    dispatch order (see :class:`InOrder`); otherwise as they complete.
    """
    if sink is not None and sink_order_wait is not None:
        return _in_order(build_dispatch(pool, gate, event_timeout=event_timeout, stats=stats),
                         sink, sink_order_wait)  # fmt: skip
    events = stats.events
    duration = stats.duration
    perf_counter = time.perf_counter

    # ``continuation`` positional-or-keyword: its default comes from a tuple, not the
    # keyword-defaults dict a keyword-only parameter is filled from on every call.
    async def dispatch(event: Event, continuation: bool = False) -> Response:
        if not gate.open and not continuation:
            events["shutdown"] += 1
            raise ShuttingDownError("the function is shutting down")
        worker = pool.try_acquire()
        try:
            if worker is None:
                worker = await pool.acquire()
            start = perf_counter()
            response = await worker.handle(event, event_timeout)
            duration.observe(perf_counter() - start)
        except DispatchError as exc:
            events[exc.outcome] = events.get(exc.outcome, 0) + 1
            raise
        finally:
            if worker is not None:
                pool.release(worker)
        status = response.status_code
        events["ok" if status < 500 else "error"] += 1
        stats.bytes_in += event.size or 0
        stats.bytes_out += len(response.body)
        if sink is not None and status < 400:
            sink.offer(response, event)
        return response

    return dispatch


def _in_order(call: Dispatch, sink: SinkChannel, wait: float) -> Dispatch:
    """``call``, with its successful responses handed to ``sink`` in dispatch order."""

    def late() -> None:
        sink.stats.late += 1

    order: InOrder[tuple[Response, Event]] = InOrder(lambda item: sink.offer(*item), wait, late)

    async def dispatch(event: Event, continuation: bool = False) -> Response:
        ticket = order.ticket()
        item = None
        try:
            response = await call(event, continuation=continuation)
            if response.status_code < 400:
                item = (response, event)
            return response
        finally:
            order.finish(ticket, item)

    return dispatch


def compose(middleware: list[Middleware], call: Dispatch) -> Dispatch:
    """Wrap ``call`` in ``middleware``, the first being the outermost.

    A middleware's ``call_next(event)`` passes the event on as it was dispatched: a
    continuation stays one.
    """
    for outer in reversed(middleware):
        call = _wrap(outer, call)
    return call


def _wrap(middleware: Middleware, call_next: Dispatch) -> Dispatch:
    async def call_on(event: Event) -> Response:
        return await call_next(event, continuation=True)

    plain: CallNext = call_next

    async def step(event: Event, continuation: bool = False) -> Response:
        return await middleware(event, call_on if continuation else plain)

    return step
