"""A bounded hand-off from a producer that never waits to a few async consumers.

A camera, a proxy answering Envoy at once, a trigger feeding its sink: each hands work to
background consumers and must not slow down when they fall behind. :class:`Handoff` keeps
at most ``capacity`` items waiting and applies a named policy when full:

- ``drop_oldest``: the oldest waiting item makes room (a sink: the newest result matters);
- ``drop_newest``: the offered item is refused (an observer: what is queued is kept);
- ``latest``: one item waits at most, and an offered item replaces it (frames: the newest
  wins), whatever ``capacity`` says.

Every dropped item goes to ``on_drop`` once, so each user counts drops the same way. Items
reach consumers in the order offered; an idle consumer takes an offered item at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, Literal, TypeVar

from dh_serverless.core.compat import TIMEOUT_ERRORS

__all__ = ("DropPolicy", "Handoff")

T = TypeVar("T")
DropPolicy = Literal["drop_oldest", "drop_newest", "latest"]
POLICIES: tuple[DropPolicy, ...] = ("drop_oldest", "drop_newest", "latest")

_log = logging.getLogger("dh_serverless.handoff")


class Handoff(Generic[T]):
    """Items offered without waiting, consumed by ``consumers`` tasks calling ``consume``.

    :param consume: awaited once per item; an exception is logged and the next item taken.
    :param capacity: items that may wait (not counting those being consumed).
    :param policy: what a full hand-off does with an offered item (see the module).
    :param consumers: how many items are consumed at once.
    :param on_drop: called with each item dropped, when it is dropped.
    :param name: for log lines.
    """

    def __init__(
        self,
        consume: Callable[[T], Awaitable[None]],
        *,
        capacity: int,
        policy: DropPolicy = "drop_oldest",
        consumers: int = 1,
        on_drop: Callable[[T], None] | None = None,
        name: str = "handoff",
    ) -> None:
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {', '.join(POLICIES)}, got {policy!r}")
        self.capacity = max(1, capacity)
        self.policy = policy
        self.consumers = max(1, consumers)
        self.name = name
        self.dropped = 0  #: items dropped since the start
        self.busy = 0  #: items being consumed now
        self._consume = consume
        self._on_drop = on_drop
        self._items: deque[T] = deque()
        self._idle: deque[asyncio.Future[T]] = deque()
        self._tasks: list[asyncio.Task[None]] = []
        self._settled: asyncio.Event | None = None

    @property
    def queued(self) -> int:
        """Items waiting for a consumer."""
        return len(self._items)

    def start(self) -> None:
        """Start the consumer tasks (on the running loop)."""
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._serve(), name=f"dh-{self.name}-{i}")
            for i in range(self.consumers)
        ]

    def offer(self, item: T) -> bool:
        """Hand ``item`` over without waiting; ``False`` when it was dropped itself."""
        idle = self._idle
        while idle:
            waiter = idle.popleft()
            if not waiter.done():
                waiter.set_result(item)
                return True
        items = self._items
        if self.policy == "latest":
            while items:
                self._drop(items.popleft())
        elif len(items) >= self.capacity:
            if self.policy == "drop_newest":
                self._drop(item)
                return False
            self._drop(items.popleft())
        items.append(item)
        return True

    def clear(self) -> int:
        """Drop every waiting item (counted); return how many."""
        count = len(self._items)
        while self._items:
            self._drop(self._items.popleft())
        return count

    def _drop(self, item: T) -> None:
        self.dropped += 1
        if self._on_drop is not None:
            self._on_drop(item)

    async def _next(self) -> T:
        if self._items:
            return self._items.popleft()
        waiter: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._idle.append(waiter)
        return await waiter

    async def _serve(self) -> None:
        while True:
            item = await self._next()
            self.busy += 1
            try:
                await self._consume(item)
            except Exception as exc:  # noqa: BLE001 - one item must not stop the consumer
                _log.error("%s: %s: %s", self.name, type(exc).__name__, exc, exc_info=exc)
            finally:
                self.busy -= 1
                if self._settled is not None and not self._items and not self.busy:
                    self._settled.set()

    async def close(self, timeout: float) -> None:
        """Let waiting and running items finish for up to ``timeout`` seconds, then cancel
        the consumers; what is still waiting then is dropped (counted)."""
        if self._tasks and (self._items or self.busy):
            self._settled = asyncio.Event()
            with contextlib.suppress(*TIMEOUT_ERRORS):
                await asyncio.wait_for(self._settled.wait(), timeout)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self.clear()
