"""A websocket trigger started in this test's event loop, its ``dispatch`` a
:class:`~dh_serverless.testing.FakeDispatch` running the handler each test writes (the
runtime's conversion of its result, and its 500 when it raises)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from dh_serverless.hookspecs import Event, Metrics
from dh_serverless.testing import FakeDispatch, read_metric, trigger_spec
from dh_serverless.triggers.websocket import WebsocketTrigger

Handler = Callable[[Event], Awaitable[Any]]


class Started:
    """A started trigger, the events its handler saw and the metrics registry."""

    def __init__(self, trigger: WebsocketTrigger, events: list[Event], metrics: Metrics) -> None:
        self.trigger = trigger
        self.events = events
        self.metrics = metrics
        self.url = trigger.url

    def metric(self, name: str, **labels: str) -> float:
        return read_metric(self.metrics, name, **labels)


@pytest.fixture
async def start_trigger():
    started: list[WebsocketTrigger] = []

    async def start(handler: Handler, workers: int = 2, **attributes: Any) -> Started:
        attributes.setdefault("websocket_addr", "127.0.0.1:0")
        spec = trigger_spec(WebsocketTrigger, attributes, name="ws", workers=workers)
        trigger = WebsocketTrigger(spec)
        dispatch = FakeDispatch(handler)
        await trigger.start(dispatch)
        started.append(trigger)
        return Started(trigger, dispatch.events, spec.metrics)

    yield start
    for trigger in started:
        await trigger.stop(2)
    await asyncio.sleep(0)
