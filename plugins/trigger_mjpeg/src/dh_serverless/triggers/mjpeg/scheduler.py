"""Hand frames to ``dispatch``: up to N at once, and the newest frame wins when all are busy.

A camera does not wait for a slow handler. Queueing its frames would make memory and
latency grow without bound, so at most ``slots`` frames are being handled and one more
waits; a newer frame replaces the waiting one, which is dropped and counted. ``dispatch``
is called in frame order, which is what the core's ordered sink delivery keys on.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Coroutine
from typing import Any

from dh_serverless.core.api import StreamDispatch, drain_tasks
from dh_serverless.hookspecs import Dispatch, Event
from dh_serverless.triggers.mjpeg.metrics import TriggerMetrics

__all__ = ("LatestWins",)


class LatestWins:
    """Runs ``dispatch`` on at most ``slots`` events at once, holding one newest event back.

    :param dispatch: the core's dispatch callable.
    :param slots: how many events may be in ``dispatch`` at once (the trigger's workers).
    :param metrics: where processed and dropped frames are counted.
    :param logger: where handler failures are reported (at debug level per frame).
    """

    def __init__(
        self, dispatch: Dispatch, slots: int, metrics: TriggerMetrics, logger: logging.Logger
    ) -> None:
        self._dispatch = dispatch
        self.slots = max(1, slots)
        self._metrics = metrics
        self._logger = logger
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending: Event | None = None
        self._run = StreamDispatch(
            dispatch,
            processed=metrics.processed,
            failed=metrics.failed,
            logger=logger,
            name=lambda event: f"frame {event.fields.get('frame_num')}",
        )

    @property
    def running(self) -> int:
        """Events inside ``dispatch`` now."""
        return len(self._tasks)

    @property
    def waiting(self) -> int:
        """0 or 1: the newest frame held back while every slot is busy."""
        return 0 if self._pending is None else 1

    def offer(self, event: Event) -> None:
        """Start ``event`` now if a slot is free, else keep it as the one waiting frame."""
        if len(self._tasks) < self.slots:
            self._start(event)
            return
        if self._pending is not None:
            self._metrics.superseded.inc()
        self._pending = event

    async def settle(self, rounds: int = 8) -> None:
        """Between frames that came in one read: give a frame already handed over a few
        loop iterations to finish (a fast handler does) before a newer one supersedes it.
        Never waits for a slow handler: the newest frame still wins."""
        for _ in range(rounds):
            if self._pending is None:
                return
            await asyncio.sleep(0)

    def _start(self, event: Event) -> None:
        coro = self._run(event)
        context = contextvars.copy_context()
        try:
            waiting = context.run(coro.send, None)
        except StopIteration:
            return  # answered without waiting: the slot is free again
        except BaseException:  # StreamDispatch catches Exception; KeyboardInterrupt etc.
            coro.close()
            raise
        task = asyncio.get_running_loop().create_task(_resume(coro, waiting), context=context)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        pending = self._pending
        if pending is not None:
            self._pending = None
            self._start(pending)

    def drop_waiting(self) -> None:
        """Forget the waiting frame (on shutdown)."""
        if self._pending is not None:
            self._pending = None
            self._metrics.superseded.inc()

    async def drain(self, timeout: float) -> None:
        """Let running events finish for up to ``timeout`` seconds, then cancel them."""
        self.drop_waiting()
        await drain_tasks(list(self._tasks), timeout)


async def _resume(coro: Coroutine[Any, Any, None], waiting: Any) -> None:
    """Drive ``coro``, already started and waiting on ``waiting`` (a future it yielded, or
    ``None`` for a bare yield such as ``asyncio.sleep(0)``), to its end, as a task would:
    the future's result or exception is passed in, and a cancellation is thrown in."""
    while True:
        try:
            if waiting is None:
                await asyncio.sleep(0)
            else:
                waiting._asyncio_future_blocking = False  # the task's protocol: now awaited here
                await waiting
        except BaseException as exc:  # noqa: BLE001 - handed to the coroutine, which decides
            try:
                waiting = coro.throw(exc)
            except StopIteration:
                return
            continue
        try:
            waiting = coro.send(None)
        except StopIteration:
            return
