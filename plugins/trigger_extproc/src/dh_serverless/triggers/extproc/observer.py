"""The observeprocessor's background queue: Envoy is answered at once, the handler runs later.

A bounded ``asyncio.Queue`` of events drained by one task per worker; when it is full a
new event is dropped and counted (``dh_extproc_messages_total{outcome="dropped"}``), so a
slow handler never delays nor grows without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from dh_serverless.core.compat import TIMEOUT_ERRORS
from dh_serverless.hookspecs import Dispatch, DispatchError, Event
from dh_serverless.triggers.extproc.result import HandlerAnswer
from dh_serverless.triggers.extproc.stats import TriggerStats

__all__ = ("Observer",)


class Observer:
    """Queue events for ``dispatch`` and run them on ``consumers`` background tasks."""

    def __init__(
        self,
        name: str,
        dispatch: Dispatch,
        stats: TriggerStats,
        logger: logging.Logger,
        *,
        capacity: int,
        consumers: int,
    ) -> None:
        self.name = name
        self.dispatch = dispatch
        self.stats = stats
        self.logger = logger
        self.queue: asyncio.Queue[Event] = asyncio.Queue(capacity)
        self.consumers = max(1, consumers)
        self.tasks: list[asyncio.Task[None]] = []
        stats.queued.set_function(self.queue.qsize)

    def start(self) -> None:
        """Start the consumer tasks."""
        loop = asyncio.get_running_loop()
        self.tasks = [loop.create_task(self._consume()) for _ in range(self.consumers)]

    def offer(self, event: Event) -> str:
        """Queue ``event``; the outcome to count: ``observed`` or ``dropped``."""
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            return "dropped"
        return "observed"

    async def _consume(self) -> None:
        queue = self.queue
        while True:
            event = await queue.get()
            try:
                response = await self.dispatch(event)
                if not isinstance(response.body, HandlerAnswer):
                    self.logger.warning(
                        "extproc %s: observer handler failed: %s",
                        self.name, bytes(response.body).decode("utf-8", "replace"),
                    )  # fmt: skip
            except DispatchError as exc:
                self.logger.warning(
                    "extproc %s: observer event not handled: %s", self.name, exc or type(exc)
                )
            except Exception as exc:
                self.logger.error("extproc %s: observer: %s", self.name, exc, exc_info=True)
            finally:
                queue.task_done()

    async def stop(self, timeout: float) -> None:
        """Give queued events up to ``timeout`` seconds, then cancel the consumers."""
        if self.queue.qsize():
            with contextlib.suppress(*TIMEOUT_ERRORS):
                await asyncio.wait_for(self.queue.join(), timeout)
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks = []
