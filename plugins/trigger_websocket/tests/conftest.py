"""A websocket trigger started in this test's event loop, with the core's own response
conversion in front of a handler each test writes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from dh_serverless.core.config import CONVERTER
from dh_serverless.core.responses import to_response
from dh_serverless.hookspecs import Event, FunctionInfo, Metrics, Response, TriggerSpec
from dh_serverless.triggers.websocket import WebsocketTrigger, WebsocketTriggerAttributes

Handler = Callable[[Event], Awaitable[Any]]


class Started:
    """A started trigger, the events its handler saw and the metrics registry."""

    def __init__(self, trigger: WebsocketTrigger, events: list[Event], metrics: Metrics) -> None:
        self.trigger = trigger
        self.events = events
        self.metrics = metrics
        self.url = trigger.url

    def metric(self, name: str, **labels: str) -> float:
        for family in self.metrics:
            if family.name == name:
                for values, cell in family.cells.items():
                    wanted = dict(zip(family.labelnames, values, strict=True))
                    if all(wanted.get(k) == v for k, v in labels.items()):
                        return float(cell.read() if hasattr(cell, "read") else cell.value)
        raise KeyError(name)


@pytest.fixture
async def start_trigger():
    started: list[WebsocketTrigger] = []

    async def start(handler: Handler, workers: int = 2, **attributes: Any) -> Started:
        attributes.setdefault("websocket_addr", "127.0.0.1:0")
        attrs = CONVERTER.structure(attributes, WebsocketTriggerAttributes)
        metrics = Metrics()
        spec = TriggerSpec(
            name="ws", kind="websocket", attributes=attrs, function=FunctionInfo("t"),
            workers=workers, metrics=metrics,
        )  # fmt: skip
        trigger = WebsocketTrigger(spec)
        events: list[Event] = []

        async def dispatch(event: Event) -> Response:
            events.append(event)
            try:
                return to_response(await handler(event))
            except Exception as exc:  # noqa: BLE001 - as the core: a raising handler is a 500
                return Response(body=f"{type(exc).__name__}: {exc}", status_code=500)

        await trigger.start(dispatch)
        started.append(trigger)
        return Started(trigger, events, metrics)

    yield start
    for trigger in started:
        await trigger.stop(2)
    await asyncio.sleep(0)
