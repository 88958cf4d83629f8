"""Results in the order their events arrived, with a bounded wait for a late one.

A trigger that sets ``sink_order_wait`` (frames of a video) gets its sink fed in
dispatch order: each event takes a ticket when ``dispatch`` is called, and a finished
result waits only for the tickets before it. Waiting is bounded twice: in count (at
most the events in flight, which the worker pool bounds) and in time (``wait``
seconds after a later result is ready, the missing ones are skipped; one that
completes after it was skipped is dropped and counted as late).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ("InOrder",)

T = TypeVar("T")


class InOrder(Generic[T]):
    """Releases items to ``deliver`` in ticket order.

    :param deliver: called with each item, in ticket order, never for a skipped one.
    :param wait: seconds a finished item waits for an earlier, unfinished one.
    :param on_late: called for each item that finished after its ticket was skipped.
    """

    def __init__(
        self, deliver: Callable[[T], None], wait: float, on_late: Callable[[], None]
    ) -> None:
        self._deliver = deliver
        self.wait = wait
        self._on_late = on_late
        self._issued = 0
        self._next = 0
        self._finished: dict[int, T | None] = {}
        self._timer: asyncio.TimerHandle | None = None

    def ticket(self) -> int:
        """The next ticket: call it in arrival order."""
        ticket = self._issued
        self._issued += 1
        return ticket

    @property
    def waiting(self) -> int:
        """Finished items held back for an earlier one."""
        return len(self._finished)

    def finish(self, ticket: int, item: T | None) -> None:
        """The event of ``ticket`` is done; ``item`` is ``None`` when it has nothing to deliver."""
        if ticket < self._next:
            if item is not None:
                self._on_late()
            return
        self._finished[ticket] = item
        self._release()

    def _release(self) -> None:
        finished = self._finished
        start = self._next
        while self._next in finished:
            item = finished.pop(self._next)
            self._next += 1
            if item is not None:
                self._deliver(item)
        if self._next != start and self._timer is not None:
            self._timer.cancel()  # a new head: it gets a wait of its own
            self._timer = None
        if finished and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.wait, self._skip_head)

    def _skip_head(self) -> None:
        self._timer = None
        if self._finished:
            self._next = min(self._finished)
            self._release()
