"""A trigger's life in one object: started once, work tracked in flight, drained then cancelled.

Every network trigger (and every listener that owns connections) needs the same four things:
refuse a second ``start()``, know which requests or connections are being handled, stop
taking new ones, and on ``stop(timeout)`` let those in flight finish for up to ``timeout``
seconds before cancelling what is left. :class:`Lifecycle` is that, once::

    class MyTrigger:
        def __init__(self, spec):
            self._life = Lifecycle(f"my trigger {spec.name!r}", spec.logger)

        async def start(self, dispatch):
            self._life.start()  # RuntimeError: "my trigger 'x' already started"
            ...  # bind the listener

        async def _handle(self, request):  # one request, on its own task
            task = asyncio.current_task()
            self._life.enter(task)
            try:
                return await dispatch(event)
            finally:
                self._life.leave(task)

        async def stop(self, timeout):
            if not self._life.begin_stop():  # never started, or stopping already
                return
            ...  # stop accepting (close the listening socket)
            await self._life.drain(timeout)  # wait, then cancel what is left
            ...  # close the connections

Work that runs on a task of its own (a connection's reader, a background consumer) is
started with :meth:`Lifecycle.spawn` and tracked until it ends. ``enter``/``leave`` cost a
set insertion and removal: they are meant for the per-request path. Nothing here imports
aiohttp or grpc.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

__all__ = ("Lifecycle", "drain_tasks")

T = TypeVar("T")

#: seconds cancelled work is given to unwind before :meth:`Lifecycle.drain` returns
CANCEL_GRACE = 1.0


async def drain_tasks(
    tasks: Iterable[asyncio.Task[Any]], timeout: float, *, grace: float | None = CANCEL_GRACE
) -> list[asyncio.Task[Any]]:
    """Wait up to ``timeout`` seconds for ``tasks``, then cancel those still running and
    give them ``grace`` seconds (``None``: as long as they take) to unwind.

    :return: the tasks that had to be cancelled (empty: everything finished in time).
    """
    pending = [task for task in tasks if not task.done()]
    if not pending:
        return []
    _, late = await asyncio.wait(pending, timeout=max(timeout, 0.0))
    left = list(late)
    for task in left:
        task.cancel()
    if left:
        await asyncio.wait(left, timeout=grace)
    return left


class Lifecycle:
    """The started guard, in-flight work and drain-then-cancel of one trigger or listener.

    States: new → running (:meth:`start`) → stopping (:meth:`begin_stop`) → stopped (once
    :meth:`drain` returns); a stopped lifecycle may be started again.

    :param what: how errors and log lines name the owner, e.g. ``"http trigger 'web'"``.
    :param logger: where a drain that had to cancel work is reported (a warning).

    Attributes read on hot paths are plain attributes: ``running`` (started and not
    stopping) and ``stopping`` (between :meth:`begin_stop` and the end of :meth:`drain`).
    """

    __slots__ = ("_idle", "_tasks", "logger", "running", "stopping", "what")

    def __init__(self, what: str, logger: logging.Logger | None = None) -> None:
        self.what = what
        self.logger = logger or logging.getLogger("dh_serverless.serving")
        self.running = False
        self.stopping = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._idle: asyncio.Event | None = None

    # -- start and stop ------------------------------------------------------------

    def start(self) -> None:
        """Mark the owner started: call first thing in its ``start()``.

        :raises RuntimeError: ``"{what} already started"`` when it runs or is stopping.
        """
        if self.running or self.stopping:
            raise RuntimeError(f"{self.what} already started")
        self.running = True

    def begin_stop(self) -> bool:
        """Stop taking new work; ``False`` when there is nothing to stop (never started,
        or another ``stop()`` is under way), so ``stop()`` can return at once."""
        if not self.running:
            return False
        self.running = False
        self.stopping = True
        return True

    def abort(self) -> None:
        """Forget a start that failed half-way (the listener could not bind), so the
        owner can be started again; work in flight is left alone."""
        self.running = self.stopping = False

    async def drain(self, timeout: float, *, grace: float = CANCEL_GRACE) -> int:
        """Wait up to ``timeout`` seconds for the work in flight, then cancel what is left
        and give it ``grace`` seconds to unwind. Marks the lifecycle stopped.

        :return: how many tasks had to be cancelled (0: everything finished in time).
        """
        cancelled = 0
        try:
            tasks = self._tasks
            if tasks:
                idle = self._idle = asyncio.Event()
                try:
                    await asyncio.wait_for(idle.wait(), max(timeout, 0.0))
                except (TimeoutError, asyncio.TimeoutError):
                    left = [t for t in tasks if not t.done()]
                    cancelled = len(left)
                    if left:
                        self.logger.warning(
                            "%s: cancelling %d request(s) still running after %.1fs",
                            self.what, cancelled, timeout,
                        )  # fmt: skip
                        for task in left:
                            task.cancel()
                        await asyncio.wait(left, timeout=grace)
                finally:
                    self._idle = None
        finally:
            self.running = self.stopping = False
        return cancelled

    # -- work in flight --------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Requests or connections being handled now."""
        return len(self._tasks)

    def enter(self, task: asyncio.Task[Any]) -> None:
        """Track ``task`` as handling one piece of work until :meth:`leave`."""
        self._tasks.add(task)

    def leave(self, task: asyncio.Task[Any]) -> None:
        """``task`` finished its piece of work (call from a ``finally``)."""
        tasks = self._tasks
        tasks.discard(task)
        if not tasks and self._idle is not None:
            self._idle.set()

    def spawn(self, coro: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
        """Run ``coro`` on a task of its own, tracked until it ends (drained, then
        cancelled, by :meth:`drain`)."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self.leave)
        return task

    def tracked(self) -> list[asyncio.Task[Any]]:
        """The tasks in flight now (a copy)."""
        return list(self._tasks)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopping" if self.stopping else "stopped"
        return f"<Lifecycle {self.what}: {state}, {len(self._tasks)} in flight>"
