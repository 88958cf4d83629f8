"""The {{ cookiecutter.kind }} trigger: by itself with a fake dispatch, then in the runtime."""

from __future__ import annotations

import asyncio

import pytest

from dh_serverless.core.api import UserError
from dh_serverless.hookspecs import Trigger, WorkerBusyError
from dh_serverless.testing import FakeDispatch, read_metric, trigger_spec
from dh_serverless.testing.processes import eventually
from dh_serverless.{{ cookiecutter.plugin_type }}s.{{ cookiecutter.__package }} import {{ cookiecutter.__class_name }}

METRIC = "dh_{{ cookiecutter.__package }}_ticks"


async def started(dispatch: FakeDispatch, **attributes: object) -> tuple[{{ cookiecutter.__class_name }}, object]:
    spec = trigger_spec({{ cookiecutter.__class_name }}, {"interval": "20ms", **attributes}, name="clock")
    trigger = {{ cookiecutter.__class_name }}(spec)
    await trigger.start(dispatch)
    return trigger, spec


def test_the_class_is_a_trigger():
    trigger = {{ cookiecutter.__class_name }}(trigger_spec({{ cookiecutter.__class_name }}, {}))
    assert isinstance(trigger, Trigger)
    assert trigger.kind == "{{ cookiecutter.kind }}"


async def test_an_event_every_interval():
    dispatch = FakeDispatch()
    trigger, spec = await started(dispatch, body="tick")
    try:
        events = await dispatch.wait_for(3)
    finally:
        await trigger.stop(1)
    assert [e.fields["tick"] for e in events] == [1, 2, 3]
    assert {e.body for e in events} == {b"tick"}
    assert events[0].trigger.kind == "{{ cookiecutter.kind }}"
    assert read_metric(spec.metrics, METRIC, outcome="ok") >= 3


async def test_stop_lets_the_event_in_flight_finish_then_ticks_no_more():
    dispatch = FakeDispatch()
    dispatch.pause()  # the handler keeps running
    trigger, spec = await started(dispatch)
    await dispatch.wait_for(1)
    stopping = asyncio.ensure_future(trigger.stop(5))
    await asyncio.sleep(0.1)
    assert not stopping.done()  # draining: the event is still in flight
    dispatch.resume()
    await asyncio.wait_for(stopping, 5)
    assert read_metric(spec.metrics, METRIC, outcome="ok") == 1
    seen = len(dispatch.events)
    await asyncio.sleep(0.1)
    assert len(dispatch.events) == seen


async def test_stop_cancels_what_outlives_the_timeout():
    dispatch = FakeDispatch()
    dispatch.pause()  # never resumed
    trigger, _ = await started(dispatch)
    await dispatch.wait_for(1)
    await asyncio.wait_for(trigger.stop(0.05), 2)
    assert dispatch.in_flight == 0  # cancelled


async def test_busy_workers_drop_ticks_and_count_them():
    dispatch = FakeDispatch()
    dispatch.answers.append(WorkerBusyError("every worker stayed busy"))
    dispatch.pause()
    trigger, spec = await started(dispatch)  # 1 worker: the ticks after the first are dropped
    await dispatch.wait_for(1)
    await asyncio.sleep(0.1)
    dispatch.resume()
    await trigger.stop(1)
    assert read_metric(spec.metrics, METRIC, outcome="failed") == 1
    assert read_metric(spec.metrics, METRIC, outcome="dropped") >= 2


def test_a_bad_interval_names_the_key():
    with pytest.raises(UserError) as info:
        trigger_spec({{ cookiecutter.__class_name }}, {"interval": 0}, name="clock")
    assert info.value.exit_code == 2
    assert "spec.triggers.clock.attributes" in str(info.value)
    assert "interval must be greater than 0" in str(info.value)


async def test_in_the_runtime_events_reach_the_handler(dh_trigger_function):
    function = await dh_trigger_function("{{ cookiecutter.kind }}", {"interval": "20ms", "body": "hi"})
    await eventually(lambda: function.metric(METRIC, outcome="ok") >= 3, 5, "three ticks")
    assert function.metric("dh_events", trigger="{{ cookiecutter.kind }}", outcome="ok") >= 3
    await function.stop()  # SIGTERM's drain
    assert "did not stop cleanly" not in function.log()
