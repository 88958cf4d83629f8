"""The ``{{ cookiecutter.kind }}`` trigger: an event every ``interval``, drained on stop.

A trigger is a class with ``kind``, ``attributes_type`` and an instance ``name``, and two
coroutines (the :class:`~dh_serverless.hookspecs.Trigger` protocol, checked structurally):
``start(dispatch)`` begins producing events and returns at once; ``stop(timeout)`` stops
producing, gives the events in flight ``timeout`` seconds, then cancels the rest.
``dispatch(event)`` runs the handler on a worker and resolves to its ``Response``, or raises
a ``DispatchError`` saying why it could not (no worker free, timeout, shutting down).
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

import attrs

from dh_serverless.core.api import Duration, EventFactory, Lifecycle, validators
from dh_serverless.hookspecs import (
    Dispatch,
    DispatchError,
    Event,
    ShuttingDownError,
    TriggerInfo,
    TriggerSpec,
)

__all__ = ("{{ cookiecutter.__class_name }}", "{{ cookiecutter.__class_name }}Attributes")


@attrs.frozen
class {{ cookiecutter.__class_name }}Attributes:
    """``spec.triggers.<name>.attributes``, as users write them in ``function.yaml``::

        kind: {{ cookiecutter.kind }}
        attributes:
          interval: 1s     # a Go duration ("500ms", "1m30s") or seconds
          body: "tick"     # each event's body (UTF-8), its field "tick" counts from 1

    The core structures ``attributes`` into this class: keys match ignoring case and
    underscores, an unknown key names its full path, and a validator's ``ValueError`` stops
    the start with exit code 2.
    """

    interval: Duration = attrs.field(default=Duration(1.0), validator=validators.positive())
    body: str = ""


class {{ cookiecutter.__class_name }}:
    """Dispatches one event per ``interval``; at most ``workers`` of them run at once."""

    kind: ClassVar[str] = "{{ cookiecutter.kind }}"
    attributes_type: ClassVar[type] = {{ cookiecutter.__class_name }}Attributes

    def __init__(self, spec: TriggerSpec) -> None:
        self.name = spec.name
        self._workers = spec.workers
        self._log = spec.logger
        self._interval = float(spec.attributes.interval)
        self._body = spec.attributes.body.encode()
        self._events = EventFactory(TriggerInfo(self.kind, self.name))
        ticks = spec.metrics.counter("dh_{{ cookiecutter.__package }}_ticks", "Ticks, by outcome", ("trigger", "outcome"))
        self._ok, self._failed, self._dropped = (
            ticks.labels(self.name, outcome) for outcome in ("ok", "failed", "dropped")
        )
        self._count = 0
        self._ticker: asyncio.Task[None] | None = None
        #: the started guard, and the events in flight (drained, then cancelled, on stop)
        self._life = Lifecycle(f"{{ cookiecutter.kind }} trigger {self.name!r}", spec.logger)

    async def start(self, dispatch: Dispatch) -> None:
        """Start ticking and return; the first event comes one interval from now."""
        self._life.start()  # RuntimeError on a second start
        self._ticker = asyncio.create_task(self._tick_forever(dispatch), name=f"dh-{self.name}")

    async def stop(self, timeout: float) -> None:
        """Stop ticking, let running events finish for ``timeout`` seconds, cancel the rest."""
        if not self._life.begin_stop():
            return
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.wait({self._ticker})
        await self._life.drain(timeout)

    def event(self) -> Event:
        """The next tick's event (a fresh one each time: handlers may change theirs)."""
        self._count += 1
        return self._events(self._body, fields={"tick": self._count}, method="TICK")

    async def _tick_forever(self, dispatch: Dispatch) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + self._interval
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            self._tick(dispatch)
            due += self._interval
            if due <= loop.time():  # the loop stalled: skip the missed ticks, never replay
                due = loop.time() + self._interval

    def _tick(self, dispatch: Dispatch) -> None:
        running = self._life.in_flight
        if running >= self._workers:
            self._dropped.inc()
            self._log.warning("%s: tick dropped, %d still running", self.name, running)
            return
        self._life.spawn(self._dispatch(dispatch, self.event()))

    async def _dispatch(self, dispatch: Dispatch, event: Event) -> None:
        try:
            response = await dispatch(event)
        except ShuttingDownError:
            self._dropped.inc()  # the runtime drains: stop() ends the ticking next
            return
        except DispatchError as exc:
            self._failed.inc()
            self._log.warning("%s: tick failed: %s: %s", self.name, type(exc).__name__, exc)
            return
        (self._ok if response.status_code < 500 else self._failed).inc()
