"""The observeprocessor's background queue: Envoy is answered at once, the handler runs later.

A bounded hand-off of events (the core's ``Handoff``, ``drop_newest``) drained by one task per
worker; when it is full a new event is dropped and counted
(``dh_extproc_messages_total{outcome="dropped"}``), so a slow handler never delays nor grows
without bound.
"""

from __future__ import annotations

import logging

from dh_serverless.core.api import Handoff
from dh_serverless.hookspecs import Converted, Dispatch, DispatchError, Event
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
        self.handoff: Handoff[tuple[Event, bool]] = Handoff(
            self._observe,
            capacity=capacity,
            policy="drop_newest",
            consumers=consumers,
            name=f"extproc-{name}-observer",
        )
        stats.queued.set_function(lambda: self.handoff.queued)

    def start(self) -> None:
        """Start the consumer tasks."""
        self.handoff.start()

    def offer(self, event: Event, *, continuation: bool = False) -> str:
        """Queue ``event`` (dispatched later as a ``continuation`` or not); the outcome to
        count: ``observed`` or ``dropped``."""
        return "observed" if self.handoff.offer((event, continuation)) else "dropped"

    async def _observe(self, item: tuple[Event, bool]) -> None:
        event, continuation = item
        try:
            response = await self.dispatch(event, continuation=continuation)
            if not isinstance(response, Converted):
                self.logger.warning(
                    "extproc %s: observer handler failed: %s",
                    self.name, response.body.decode("utf-8", "replace"),
                )  # fmt: skip
        except DispatchError as exc:
            self.logger.warning(
                "extproc %s: observer event not handled: %s", self.name, exc.message
            )
        except Exception as exc:
            self.logger.error("extproc %s: observer: %s", self.name, exc, exc_info=True)

    async def stop(self, timeout: float) -> None:
        """Give queued events up to ``timeout`` seconds, then cancel the consumers."""
        await self.handoff.close(timeout)
