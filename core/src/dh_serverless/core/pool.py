"""The workers of one trigger: an event takes a free one, waiting a bounded time."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from dh_serverless.core.metrics import EventStats
from dh_serverless.core.workers import Worker
from dh_serverless.hookspecs.errors import WorkerBusyError

__all__ = ("WorkerFactory", "WorkerPool")

_log = logging.getLogger("dh_serverless.workers")

WorkerFactory = Callable[[int], Worker]


class WorkerPool:
    """The workers of one trigger; an event takes one, waiting at most ``wait_timeout``.

    Waiters are kept in a FIFO; the queue of waiting events is bounded by ``max_waiters``
    (beyond it, events get the busy answer at once), so a flood cannot grow memory.
    """

    def __init__(
        self,
        factory: WorkerFactory,
        size: int,
        *,
        wait_timeout: float,
        stats: EventStats,
        max_waiters: int | None = None,
    ) -> None:
        self._factory = factory
        self.size = size
        self.wait_timeout = wait_timeout
        self.stats = stats
        self.max_waiters = max_waiters if max_waiters is not None else max(1024, 64 * size)
        #: threads left running past ``eventTimeout`` before a lost worker waits to be replaced
        self.max_abandoned = size
        self.workers: list[Worker] = []
        self._idle: deque[Worker] = deque()
        self._waiters: deque[asyncio.Future[Worker]] = deque()
        self._replacing: set[asyncio.Task[None]] = set()
        self._draining = False
        self._closed = False
        #: whether a worker may die while idle (its class overrides ``alive``): checked then
        self._may_die = True

    async def start(self) -> None:
        """Create every worker and run their ``init_context`` concurrently."""
        self.workers = [self._factory(i) for i in range(self.size)]
        results = await asyncio.gather(*(w.start() for w in self.workers), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            await asyncio.gather(*(w.stop() for w in self.workers), return_exceptions=True)
            raise failures[0]
        self._idle.extend(self.workers)
        self._may_die = any(_may_die(w) for w in self.workers)
        self.stats.workers_total = self.size

    def try_acquire(self) -> Worker | None:
        """A free worker at once, or None.

        A worker that died while idle (a killed process) is replaced, never handed out:
        the event it would have taken goes to the next one, or waits for a free one.
        """
        idle = self._idle
        while idle:
            worker = idle.popleft()
            if self._may_die and not worker.alive:
                worker.lost = True
                self._replace(worker, "died")
                continue
            self.stats.workers_busy += 1
            return worker
        return None

    async def acquire(self) -> Worker:
        """A free worker, waiting at most ``wait_timeout``; else :class:`WorkerBusyError`."""
        worker = self.try_acquire()
        if worker is not None:
            return worker
        waiters = self._waiters
        while waiters and waiters[0].done():  # expired or cancelled: no longer waiting
            waiters.popleft()
        if self.wait_timeout <= 0 or len(waiters) >= self.max_waiters or self._closed:
            raise WorkerBusyError("all workers are busy")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Worker] = loop.create_future()
        self._waiters.append(future)
        timer = loop.call_later(self.wait_timeout, _expire, future)
        start = loop.time()
        try:
            worker = await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release(future.result())
            raise
        finally:
            timer.cancel()
        self.stats.wait.observe(loop.time() - start)
        self.stats.workers_busy += 1
        return worker

    def release(self, worker: Worker) -> None:
        """Give a worker back; a lost one is replaced in the background."""
        self.stats.workers_busy -= 1
        if worker.lost:
            self._replace(worker)
            return
        self._hand_over(worker)

    def _hand_over(self, worker: Worker) -> None:
        if self._may_die and not worker.alive:  # died between its last event and this one
            worker.lost = True
            self._replace(worker, "died")
            return
        while self._waiters:
            future = self._waiters.popleft()
            if not future.done():
                future.set_result(worker)
                return
        self._idle.append(worker)

    def _replace(self, worker: Worker, reason: str = "lost") -> None:
        if self._closed or self._draining:
            return  # shutting down: close() stops it, a replacement would serve nothing
        task = asyncio.get_running_loop().create_task(self._respawn(worker, reason))
        self._replacing.add(task)
        task.add_done_callback(self._replacing.discard)

    async def _respawn(self, old: Worker, reason: str = "lost") -> None:
        self.stats.restarts[reason] = self.stats.restarts.get(reason, 0) + 1
        await old.stop()
        thread = old.leftover
        if thread is not None:  # a thread still in a handler that overran eventTimeout
            stats = self.stats
            stats.abandoned.append(thread)
            if stats.abandoned_running() > self.max_abandoned:
                _log.warning(
                    "trigger %s: %d threads still run handlers past eventTimeout (at most "
                    "%d): worker %s is replaced once one of them finishes",
                    stats.trigger, len(stats.abandoned), self.max_abandoned, old.worker_id,
                )  # fmt: skip
                while stats.abandoned_running() > self.max_abandoned and not self._closed:  # noqa: ASYNC110 - a thread ending has nothing to await
                    await asyncio.sleep(0.1)
        delay = 0.1
        while not self._closed:
            new = self._factory(old.worker_id)
            try:
                await new.start()
            except asyncio.CancelledError:  # close() while starting: no process may outlive it
                await asyncio.shield(new.stop())
                raise
            except Exception as exc:  # noqa: BLE001 - keep trying: capacity must come back
                _log.error("replacing worker %s failed: %s; retrying", old.worker_id, exc)
                await new.stop()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self.workers[self.workers.index(old)] = new
            _log.warning("worker %s of trigger %s replaced", old.worker_id, self.stats.trigger)
            self._hand_over(new)
            return

    async def drain(self) -> None:
        """Run every worker's drain callback; lost workers are no longer replaced."""
        self._draining = True
        await asyncio.gather(*(w.drain() for w in self.workers), return_exceptions=True)

    async def close(self) -> None:
        """Run termination callbacks, then stop every worker (their threads, processes)."""
        self._closed = True
        for future in self._waiters:
            if not future.done():
                future.set_exception(WorkerBusyError("the runtime is shutting down"))
        for task in list(self._replacing):
            task.cancel()
        results = await asyncio.gather(
            *(w.terminate() for w in self.workers), return_exceptions=True
        )
        for result in results:
            if isinstance(result, Exception):
                _log.error("termination callback raised %s: %s", type(result).__name__, result)
        await asyncio.gather(*(w.stop() for w in self.workers), return_exceptions=True)


def _may_die(worker: Worker) -> bool:
    """Whether ``worker`` can die while idle: its ``alive`` is not the base class's."""
    return getattr(type(worker), "alive", None) is not Worker.alive


def _expire(future: asyncio.Future[Worker]) -> None:
    if not future.done():
        future.set_exception(
            WorkerBusyError("all workers stayed busy for workerAvailabilityTimeout")
        )
