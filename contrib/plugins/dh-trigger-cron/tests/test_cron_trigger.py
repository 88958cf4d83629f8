"""The trigger with a fake ``dispatch``: ticks, events, drops, stop.

This is how to test a trigger without the runtime: ``trigger_spec`` builds the
``TriggerSpec`` the runtime would (attributes structured as from ``function.yaml``),
``FakeDispatch`` records what it gets and answers as told; always ``stop()``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio

from dh_serverless.hookspecs import (
    Event,
    Response,
    Trigger,
    TriggerInfo,
    TriggerSpec,
    WorkerBusyError,
)
from dh_serverless.testing import FakeDispatch, trigger_spec
from dh_serverless.triggers.cron import CronAttributes, CronTrigger

pytestmark = pytest.mark.timeout(5)


def make_spec(attributes: dict[str, Any], workers: int = 1) -> TriggerSpec:
    """What the runtime builds for ``spec.triggers.tick`` with these attributes."""
    return trigger_spec(CronTrigger, attributes, name="tick", workers=workers)


@pytest_asyncio.fixture
async def started() -> AsyncIterator[Callable[..., Any]]:
    """``await started(attributes, dispatch, workers=1)``: a started trigger, stopped after."""
    triggers: list[CronTrigger] = []

    async def start(attributes: dict[str, Any], dispatch: Any, workers: int = 1) -> CronTrigger:
        trigger = CronTrigger(make_spec(attributes, workers))
        triggers.append(trigger)
        await trigger.start(dispatch)
        return trigger

    yield start
    for trigger in triggers:
        await trigger.stop(0)


def test_class_matches_the_trigger_protocol() -> None:
    trigger = CronTrigger(make_spec({"interval": "1s"}))
    assert isinstance(trigger, Trigger)
    assert (trigger.kind, trigger.name, trigger.attributes_type) == ("cron", "tick", CronAttributes)


@pytest.mark.asyncio
async def test_interval_fires_repeatedly(started: Any) -> None:
    dispatch = FakeDispatch()
    begin = time.monotonic()
    await started({"interval": "50ms"}, dispatch)
    await dispatch.wait_for(3)
    elapsed = time.monotonic() - begin
    assert 0.14 <= elapsed < 1.0  # ticks at ~50, 100, 150 ms: not sooner, not much later


@pytest.mark.asyncio
async def test_start_returns_at_once_and_first_tick_waits_one_interval(started: Any) -> None:
    dispatch = FakeDispatch()
    await asyncio.wait_for(started({"interval": "10s"}, dispatch), 0.5)
    await asyncio.sleep(0.05)
    assert dispatch.events == []


@pytest.mark.asyncio
async def test_event_sent_on_each_tick(started: Any) -> None:
    dispatch = FakeDispatch()
    event_config = {
        "body": '{"scope": "all"}',
        "headers": {"X-Source": "nightly", "X-Count": 5},
        "path": "/rescore",
        "method": "POST",
    }
    await started({"interval": "20ms", "event": event_config}, dispatch)
    await dispatch.wait_for(2)
    first, second = dispatch.events[:2]
    assert first.body == b'{"scope": "all"}'  # bytes: never JSON-decoded
    assert first.content_type == ""
    assert first.size == len(first.body)
    assert first.trigger == TriggerInfo("cron", "tick")
    assert first.headers == {"X-Source": "nightly", "X-Count": 5}
    assert (first.path, first.method, first.url, first.fields) == ("/rescore", "POST", "", {})
    assert first.timestamp.tzinfo is None
    assert first.timestamp.year >= 2024
    assert uuid.UUID(first.id).version == 4
    assert first.headers is not second.headers  # a handler may change its copy


@pytest.mark.asyncio
async def test_default_event(started: Any) -> None:
    dispatch = FakeDispatch()
    await started({"interval": "20ms"}, dispatch)
    await dispatch.wait_for(1)
    event = dispatch.events[0]
    assert (event.body, event.headers, event.path, event.method) == (b"", {}, "/", "")


@pytest.mark.asyncio
async def test_busy_tick_is_dropped_with_a_log_line_and_ticking_goes_on(
    started: Any, caplog: pytest.LogCaptureFixture
) -> None:
    dispatch = FakeDispatch()
    dispatch.answers.append(WorkerBusyError("every worker stayed busy"))  # the first tick's
    await started({"interval": "20ms"}, dispatch)
    await dispatch.wait_for(3)
    assert "cron 'tick': tick dropped, no worker became free" in caplog.text


@pytest.mark.asyncio
async def test_no_more_ticks_than_workers_run_at_once(
    started: Any, caplog: pytest.LogCaptureFixture
) -> None:
    dispatch = FakeDispatch()
    dispatch.pause()  # every tick's handler keeps running
    await started({"interval": "10ms"}, dispatch, workers=2)
    await asyncio.sleep(0.15)
    assert dispatch.max_in_flight == 2
    assert "tick dropped, 2 earlier tick(s) still running" in caplog.text
    dispatch.resume()


@pytest.mark.asyncio
async def test_missed_ticks_are_not_replayed(started: Any) -> None:
    dispatch = FakeDispatch()
    await started({"interval": "100ms"}, dispatch)
    await dispatch.wait_for(1)
    before = len(dispatch.events)
    time.sleep(0.55)  # noqa: ASYNC251 - block the loop on purpose: five ticks come due
    await asyncio.sleep(0.03)
    assert len(dispatch.events) == before + 1  # one tick now, the missed ones skipped
    await dispatch.wait_for(before + 2)  # and the interval goes on


@pytest.mark.asyncio
async def test_stop_ends_ticking_and_cancels_running_handlers() -> None:
    cancelled = asyncio.Event()

    async def forever(event: Event) -> Response:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return Response()

    calls = 0

    async def counting(event: Event) -> Response:
        nonlocal calls
        calls += 1
        return await forever(event)

    trigger = CronTrigger(make_spec({"interval": "10ms"}))
    await trigger.start(counting)
    await asyncio.sleep(0.05)
    await asyncio.wait_for(trigger.stop(0.05), 1)
    assert cancelled.is_set()
    seen = calls
    await asyncio.sleep(0.05)
    assert calls == seen  # nothing fires after stop


@pytest.mark.asyncio
async def test_stop_lets_running_handlers_finish_within_the_timeout() -> None:
    finished = asyncio.Event()

    async def short(event: Event) -> Response:
        await asyncio.sleep(0.05)
        finished.set()
        return Response()

    trigger = CronTrigger(make_spec({"interval": "10ms"}))
    await trigger.start(short)
    await asyncio.sleep(0.02)
    await trigger.stop(1.0)
    assert finished.is_set()


@pytest.mark.asyncio
async def test_stop_before_start_is_harmless() -> None:
    await CronTrigger(make_spec({"interval": "1s"})).stop(0)
