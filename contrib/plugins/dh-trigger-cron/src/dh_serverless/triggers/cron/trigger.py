"""The trigger class: what the core constructs, starts and stops.

A trigger needs three class-level names and two coroutines (the
:class:`~dh_serverless.hookspecs.Trigger` protocol, checked structurally, so no base
class to inherit):

- ``kind`` (the entry-point name) and ``attributes_type`` (the attrs class the core
  structures ``attributes`` into), plus an instance ``name``;
- ``start(dispatch)``: begin producing events and return at once;
- ``stop(timeout)``: stop producing, give in-flight events ``timeout`` seconds, cancel
  the rest.

``dispatch(event)`` runs the handler on a worker and resolves to its converted
:class:`~dh_serverless.hookspecs.Response`, or raises a
:class:`~dh_serverless.hookspecs.DispatchError` saying why it could not (no worker
free, timeout, worker lost, shutting down).
"""

from __future__ import annotations

import asyncio
import time
from typing import ClassVar

from dh_serverless.core.api import Lifecycle, new_event
from dh_serverless.hookspecs import (
    Dispatch,
    DispatchError,
    Event,
    ShuttingDownError,
    TriggerInfo,
    TriggerSpec,
    WorkerBusyError,
)
from dh_serverless.triggers.cron.config import CronAttributes

__all__ = ("CronTrigger",)


class CronTrigger:
    """Hands ``attributes.event`` to the handler on every tick of the timetable."""

    kind: ClassVar[str] = "cron"
    attributes_type: ClassVar[type] = CronAttributes

    def __init__(self, spec: TriggerSpec) -> None:
        """Keep what each tick needs; ``spec.attributes`` is already a ``CronAttributes``."""
        self.name = spec.name
        self._spec = spec
        self._log = spec.logger
        self._event = spec.attributes.event
        self._body = self._event.body.encode("utf-8")
        self._next_tick = spec.attributes.timetable()
        self._ticker: asyncio.Task[None] | None = None
        # The started guard, and the ticks whose handler is still running: at most one per
        # worker, so a slow handler never piles up waiting ticks.
        self._life = Lifecycle(f"cron trigger {self.name!r}", spec.logger)

    async def start(self, dispatch: Dispatch) -> None:
        """Start the ticker task and return; the first tick fires one period from now."""
        self._life.start()  # RuntimeError on a second start
        self._ticker = asyncio.create_task(
            self._tick_forever(dispatch), name=f"dh-cron-{self.name}"
        )

    async def stop(self, timeout: float) -> None:
        """Stop ticking, let running handlers finish for ``timeout`` seconds, cancel the rest."""
        if not self._life.begin_stop():
            return
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.wait({self._ticker})
        await self._life.drain(timeout)

    def build_event(self) -> Event:
        """A fresh event per tick: handlers may change what they are given."""
        # content type "" keeps the body bytes, as in Nuclio
        return new_event(
            self._body,
            trigger=TriggerInfo(self.kind, self.name),
            headers=self._event.headers,
            method=self._event.method,
            path=self._event.path,
        )

    async def _tick_forever(self, dispatch: Dispatch) -> None:
        due = self._next_tick(time.time())
        while True:
            await asyncio.sleep(max(0.0, due - time.time()))
            self._tick(dispatch)
            due = self._next_tick(due)
            if due <= time.time():
                # The loop stalled or the clock jumped: the tick that was due has just
                # fired; skip the ones missed since rather than replay them.
                due = self._next_tick(time.time())

    def _tick(self, dispatch: Dispatch) -> None:
        running = self._life.in_flight
        if running >= self._spec.workers:
            self._log.warning(
                "cron %r: tick dropped, %d earlier tick(s) still running", self.name, running
            )
            return
        self._life.spawn(self._dispatch(dispatch))

    async def _dispatch(self, dispatch: Dispatch) -> None:
        # Nuclio ignores what the handler returns; the core logs handler errors.
        try:
            await dispatch(self.build_event())
        except WorkerBusyError:
            self._log.warning("cron %r: tick dropped, no worker became free", self.name)
        except ShuttingDownError:
            pass  # the runtime is draining; stop() ends the ticker next
        except DispatchError as exc:
            self._log.warning("cron %r: tick failed: %s: %s", self.name, type(exc).__name__, exc)
        except Exception:  # noqa: BLE001 - one failed tick must not go unreported or stop others
            self._log.exception("cron %r: tick could not be dispatched", self.name)
