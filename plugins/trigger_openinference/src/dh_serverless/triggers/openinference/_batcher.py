"""A dynamic batcher: gather concurrent items into batches, run each batch once.

Knows nothing of tensors: an item has a *key* (only items of one key share a batch) and a
number of *rows*; the caller's ``run_batch(key, items)`` returns one outcome per item
(a value, or an exception to raise to that item's caller). The policy is Triton's dynamic
batcher:

- a batch holds at most ``max_batch_size`` rows;
- while a run slot is free (at most ``concurrency`` batches run at once, one per worker),
  a key's queue is sent as soon as it holds ``max_batch_size`` rows or a prefix of exactly
  one of ``preferred`` sizes (the largest such prefix), or once its oldest item has waited
  ``max_queue_delay``; then it takes the longest prefix that fits;
- items that arrive in one turn of the event loop are queued before any batch is formed
  (forming is deferred with ``call_soon``), so a delay of 0 still batches under load;
- at most ``max_queue_size`` items wait (not counting those running): beyond it
  :meth:`Batcher.submit` raises the ``reject`` error at once;
- :meth:`Batcher.close` sends what is queued without waiting for the delay and refuses
  new items (the callers already waiting get their answers).

A caller that is cancelled while its item waits leaves the item behind; it is dropped
when its batch is formed. A batch runs in its own task: cancelling one caller never
cancels the batch the others wait for.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

__all__ = ("Batcher",)

T = TypeVar("T")
R = TypeVar("R")

#: run a batch: one outcome per item, in order (a value, or an exception for that caller)
RunBatch = Callable[[Hashable, list[T]], Awaitable[Sequence[R | BaseException]]]

#: a uvloop timer fires on whole milliseconds: an item due within this is due now
_SLACK = 0.0005


class _Entry(Generic[T, R]):
    __slots__ = ("arrival", "future", "item", "rows")

    def __init__(self, item: T, rows: int, future: asyncio.Future[R], arrival: float) -> None:
        self.item = item
        self.rows = rows
        self.future = future
        self.arrival = arrival


class _Queue(Generic[T, R]):
    __slots__ = ("entries", "rows")

    def __init__(self) -> None:
        self.entries: deque[_Entry[T, R]] = deque()
        self.rows = 0


class Batcher(Generic[T, R]):
    """Batches items by key; see the module docstring for the policy.

    :param run_batch: ``async (key, items) -> outcomes``, one per item.
    :param max_batch_size: the most rows in one batch.
    :param max_queue_delay: seconds the oldest item of a key may wait for a fuller batch.
    :param preferred: batch sizes (rows) sent without waiting when a prefix makes one.
    :param max_queue_size: the most items waiting (not yet in a batch).
    :param concurrency: the most batches running at once.
    :param reject: builds the error raised when the queue is full (``max_queue_size``).
    :param closed: builds the error raised once :meth:`close` was called.
    :param on_batch: called with ``(rows, queue delays)`` of each batch formed (metrics).
    """

    def __init__(
        self,
        run_batch: RunBatch[T, R],
        *,
        max_batch_size: int,
        max_queue_delay: float,
        preferred: Sequence[int] = (),
        max_queue_size: int,
        concurrency: int,
        reject: Callable[[], BaseException],
        closed: Callable[[], BaseException],
        on_batch: Callable[[int, list[float]], None] | None = None,
    ) -> None:
        self._run_batch = run_batch
        self.max_batch_size = max_batch_size
        self.max_queue_delay = max(max_queue_delay, 0.0)
        self._preferred = frozenset(p for p in preferred if 0 < p <= max_batch_size)
        self.max_queue_size = max_queue_size
        self.concurrency = max(concurrency, 1)
        self._reject = reject
        self._closed_error = closed
        self._on_batch = on_batch
        self._queues: dict[Hashable, _Queue[T, R]] = {}
        self._waiting = 0
        self._running: set[asyncio.Task[None]] = set()
        self._scheduled = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._closed = False

    @property
    def waiting(self) -> int:
        """Items queued and not yet in a batch (cancelled callers included until formed)."""
        return self._waiting

    @property
    def running(self) -> int:
        """Batches running now."""
        return len(self._running)

    async def submit(self, key: Hashable, item: T, rows: int) -> R:
        """Queue ``item`` (``rows`` rows) under ``key``; return its outcome once its batch ran.

        Raises the ``reject`` error when ``max_queue_size`` items already wait, the
        ``closed`` error after :meth:`close`, and whatever exception ``run_batch`` gave
        this item.
        """
        if self._closed:
            raise self._closed_error()
        if self._waiting >= self.max_queue_size:
            raise self._reject()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = _Queue()
        queue.entries.append(_Entry(item, rows, future, time.perf_counter()))
        queue.rows += rows
        self._waiting += 1
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._schedule)
        return await future

    def close(self) -> None:
        """Refuse new items; send every queued one without waiting for the delay."""
        if self._closed:
            return
        self._closed = True
        if self._queues and not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._schedule)

    # -- forming batches ---------------------------------------------------------------

    def _schedule(self) -> None:
        self._scheduled = False
        while len(self._running) < self.concurrency and self._queues:
            now = time.perf_counter()
            picked = self._pick(now)
            if picked is None:
                self._arm(now)
                return
            key, take = picked
            self._start(key, take, now)

    def _pick(self, now: float) -> tuple[Hashable, int] | None:
        """The ready queue with the oldest item, and how many of its items to send."""
        best: tuple[Hashable, int] | None = None
        best_arrival = 0.0
        due_before = now + _SLACK - self.max_queue_delay
        for key, queue in list(self._queues.items()):
            self._drop_cancelled(key, queue)
            if not queue.entries:
                continue
            head = queue.entries[0].arrival
            if best is not None and head >= best_arrival:
                continue
            take = self._ready(queue, self._closed or head <= due_before)
            if take:
                best, best_arrival = (key, take), head
        return best

    def _ready(self, queue: _Queue[T, R], due: bool) -> int:
        """How many items to send from ``queue`` now (0: wait)."""
        limit = self.max_batch_size
        preferred = self._preferred
        rows = 0
        fits = 0  # the longest prefix within max_batch_size
        best_preferred = 0
        for count, entry in enumerate(queue.entries, 1):
            if rows + entry.rows > limit and count > 1:
                break
            rows += entry.rows
            fits = count
            if rows in preferred:
                best_preferred = count
        if best_preferred:
            return best_preferred
        if due or queue.rows >= limit:
            return fits
        return 0

    def _drop_cancelled(self, key: Hashable, queue: _Queue[T, R]) -> None:
        entries = queue.entries
        if any(e.future.done() for e in entries):
            kept = [e for e in entries if not e.future.done()]
            self._waiting -= len(entries) - len(kept)
            queue.entries = deque(kept)
            queue.rows = sum(e.rows for e in kept)
        if not queue.entries:
            del self._queues[key]

    def _arm(self, now: float) -> None:
        """Wake up when the oldest waiting item of any key becomes due."""
        if not self._queues:
            return
        oldest = min(q.entries[0].arrival for q in self._queues.values())
        at = oldest + self.max_queue_delay
        timer = self._timer
        if timer is not None:
            if self._timer_at <= at:
                return
            timer.cancel()
        self._timer_at = at
        self._timer = asyncio.get_running_loop().call_later(max(at - now, 0.0), self._wake)

    def _wake(self) -> None:
        self._timer = None
        if not self._scheduled:
            self._schedule()

    def _start(self, key: Hashable, take: int, now: float) -> None:
        queue = self._queues[key]
        entries = [queue.entries.popleft() for _ in range(take)]
        queue.rows -= sum(e.rows for e in entries)
        if not queue.entries:
            del self._queues[key]
        self._waiting -= take
        if self._on_batch is not None:
            self._on_batch(sum(e.rows for e in entries), [now - e.arrival for e in entries])
        task = asyncio.ensure_future(self._run(key, entries))
        self._running.add(task)
        task.add_done_callback(self._finished)

    async def _run(self, key: Hashable, entries: list[_Entry[T, R]]) -> None:
        try:
            outcomes = await self._run_batch(key, [e.item for e in entries])
            if len(outcomes) != len(entries):
                raise RuntimeError(
                    f"run_batch gave {len(outcomes)} outcomes for {len(entries)} items"
                )
        except BaseException as exc:
            outcomes = [exc] * len(entries)
            if isinstance(exc, asyncio.CancelledError):
                for entry in entries:
                    entry.future.cancel()
                raise
        for entry, outcome in zip(entries, outcomes, strict=True):
            future = entry.future
            if future.done():
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if self._queues and not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._schedule)
