"""The extension points plugins share: their own metrics on /metrics, results in the form a
trigger needs on every worker kind, and ordered delivery to a sink."""

from __future__ import annotations

import asyncio
import datetime
import sys
import textwrap

import aiohttp
import numpy as np
import pytest

from dh_serverless.core.ordering import InOrder
from dh_serverless.core.plugins import TRIGGERS
from dh_serverless.core.processes import _pickle_out_of_band
from dh_serverless.hookspecs import Event, Response

from .conftest import DirectTrigger, ListSink

SPEC = """
apiVersion: nuclio.io/v1
kind: NuclioFunction
metadata: {name: test}
spec:
  handler: MODULE:handler
  %s
  triggers:
    t1:
      kind: direct
      maxWorkers: %d
      attributes: %s
"""


# ---------------------------------------------------------------------------
# Plugin metrics
# ---------------------------------------------------------------------------


class MeteredTrigger(DirectTrigger):
    """Publishes one family of each type, as a plugin would, at construction."""

    def __init__(self, spec):
        super().__init__(spec)
        metrics = spec.metrics
        self.sent = metrics.counter("dh_direct_sent", "Events sent", ("trigger",)).labels(spec.name)
        metrics.gauge("dh_direct_open", "Open things", ("trigger",)).labels(spec.name).set_function(
            lambda: 7
        )
        self.took = metrics.histogram(
            "dh_direct_took_seconds", "Time taken", ("trigger",), buckets=(0.1, 1)
        ).labels(spec.name)


async def test_a_plugin_publishes_its_metrics_on_the_one_metrics_endpoint(
    function_dir, host, tmp_path
):
    from dh_serverless.core.config import load_function_config
    from dh_serverless.core.runtime import Runtime

    host.provide(TRIGGERS, "metered", MeteredTrigger)
    path = function_dir(
        "def handler(c, e):\n    return 'x'\n",
        (SPEC % ("", 1, "{}")).replace("kind: direct", "kind: metered"),
    )
    runtime = Runtime(load_function_config(path), path, health_port=0, health_host="127.0.0.1",
                      host=host)  # fmt: skip
    await runtime.start()
    try:
        trigger = DirectTrigger.started[0]
        trigger.sent.inc()
        trigger.sent.inc(2)
        trigger.took.observe(0.5)
        await trigger.send(b"a")
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{runtime.health.port}/metrics") as reply,
        ):
            text = await reply.text()
    finally:
        await runtime.shutdown()
    assert reply.status == 200
    assert 'dh_direct_sent_total{trigger="t1"} 3.0' in text
    assert 'dh_direct_open{trigger="t1"} 7.0' in text
    assert 'dh_direct_took_seconds_bucket{le="1.0",trigger="t1"} 1.0' in text
    assert 'dh_direct_took_seconds_count{trigger="t1"} 1.0' in text
    assert 'dh_events_total{kind="metered",outcome="ok",trigger="t1"} 1.0' in text


# ---------------------------------------------------------------------------
# Result converters
# ---------------------------------------------------------------------------

CONVERTER = """
import numpy as np
from dh_serverless.core.responses import to_response
from dh_serverless.hookspecs import Converted


def convert(result):
    if isinstance(result, np.ndarray):
        return Converted({"out": result}, content_type="application/x-tensors")
    if result == "explode":
        raise ValueError("cannot convert explode")
    return to_response(result)
"""

HANDLERS = {
    "async": """
        async def handler(context, event):
            if event.body == b"raise":
                raise RuntimeError("boom")
            if event.body == b"explode":
                return "explode"
            if event.body == b"text":
                return "plain"
            return event.body["x"] * 2
        """,
    "thread": """
        def handler(context, event):
            if event.body == b"raise":
                raise RuntimeError("boom")
            if event.body == b"explode":
                return "explode"
            if event.body == b"text":
                return "plain"
            return event.body["x"] * 2
        """,
}


@pytest.fixture
def converting_trigger(tmp_path, host, monkeypatch):
    """A direct trigger whose result_converter lives in an importable module."""
    name = f"convert_{abs(hash(str(tmp_path))) % 100_000}"
    (tmp_path / f"{name}.py").write_text(CONVERTER)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = __import__(name)

    class ConvertingTrigger(DirectTrigger):
        result_converter = staticmethod(module.convert)

    host.provide(TRIGGERS, "direct", ConvertingTrigger)
    return ConvertingTrigger


@pytest.mark.parametrize("kind", ["async", "thread", "process"])
async def test_a_trigger_gets_numpy_results_on_every_worker_kind(
    kind, converting_trigger, function_dir, runtime_for
):
    code = HANDLERS["async" if kind == "async" else "thread"]
    extra = "workerKind: process" if kind == "process" else ""
    path = function_dir(textwrap.dedent(code), SPEC % (extra, 2, "{}"))
    await runtime_for(path)
    trigger = DirectTrigger.started[0]
    big = np.arange(300_000, dtype=np.float32).reshape(3, 100_000)  # 1.2 MB
    for array in (np.array([[1.5, -2.0]], dtype=np.float32), big):
        response = await trigger.send({"x": array})
        assert response.status_code == 200
        assert response.content_type == "application/x-tensors"
        out = response.value["out"]
        assert isinstance(out, np.ndarray)
        assert out.dtype == np.float32
        assert out.shape == array.shape
        np.testing.assert_array_equal(out, array * 2)
    plain = await trigger.send(b"text")
    assert (plain.status_code, plain.body, plain.content_type) == (200, b"plain", "text/plain")
    failed = await trigger.send(b"raise")
    assert (failed.status_code, failed.body) == (500, b"RuntimeError: boom")
    unconvertible = await trigger.send(b"explode")
    assert (unconvertible.status_code, unconvertible.body) == (
        500,
        b"ValueError: cannot convert explode",
    )


def test_arrays_cross_processes_as_raw_buffers_not_pickled_lists():
    array = np.ones((1, 3, 224, 224), dtype=np.float32)
    pickled, frames = _pickle_out_of_band({"out": array})
    assert len(pickled) < 1024  # the data is not in the pickle...
    assert [len(f) for f in frames] == [array.nbytes]  # ...but beside it, raw


# ---------------------------------------------------------------------------
# Ordered delivery to a sink
# ---------------------------------------------------------------------------


async def test_in_order_releases_by_ticket_and_skips_a_late_one():
    delivered, late = [], []
    order = InOrder(delivered.append, 0.05, lambda: late.append(1))
    tickets = [order.ticket() for _ in range(5)]
    order.finish(tickets[2], "c")
    order.finish(tickets[1], "b")
    assert delivered == []  # both wait for ticket 0
    order.finish(tickets[0], "a")
    assert delivered == ["a", "b", "c"]
    order.finish(tickets[4], "e")  # ticket 3 is still running
    await asyncio.sleep(0.1)
    assert delivered == ["a", "b", "c", "e"]  # 3 was skipped after the wait
    order.finish(tickets[3], "d")
    assert delivered == ["a", "b", "c", "e"]
    assert late == [1]
    assert order.waiting == 0


async def test_in_order_a_failed_event_frees_its_place_at_once():
    delivered = []
    order = InOrder(delivered.append, 60, lambda: None)
    first, second = order.ticket(), order.ticket()
    order.finish(second, "b")
    order.finish(first, None)  # failed: nothing to deliver
    assert delivered == ["b"]


class OrderedTrigger(DirectTrigger):
    def __init__(self, spec):
        super().__init__(spec)
        self.sink_order_wait = float(spec.attributes.label or 5)


ORDERED_HANDLER = """
import asyncio

async def handler(context, event):
    delay, tag = event.body.split(b":")
    await asyncio.sleep(float(delay))
    if tag == b"fail":
        raise RuntimeError("failed frame")
    return tag
"""


async def test_results_reach_the_sink_in_dispatch_order(function_dir, runtime_for, host):
    host.provide(TRIGGERS, "direct", OrderedTrigger)
    path = function_dir(ORDERED_HANDLER, SPEC % ("", 4, "{label: '5', sink: {kind: list}}"))
    runtime = await runtime_for(path)
    trigger = DirectTrigger.started[0]
    bodies = [b"0.08:a", b"0.02:b", b"0.05:fail", b"0.0:c", b"0.03:d", b"0.01:e"]
    replies = await asyncio.gather(*(trigger.send(b) for b in bodies))
    assert [r.status_code for r in replies] == [200, 200, 500, 200, 200, 200]
    await asyncio.sleep(0.05)
    assert [item[0] for item in ListSink.instances[0].items] == [b"a", b"b", b"c", b"d", b"e"]
    assert runtime.collector.sinks[0].late == 0


async def test_a_frame_later_than_the_wait_is_dropped_and_counted(function_dir, runtime_for, host):
    host.provide(TRIGGERS, "direct", OrderedTrigger)
    path = function_dir(ORDERED_HANDLER, SPEC % ("", 4, "{label: '0.05', sink: {kind: list}}"))
    runtime = await runtime_for(path)
    trigger = DirectTrigger.started[0]
    await asyncio.gather(*(trigger.send(b) for b in (b"0.4:slow", b"0.0:a", b"0.01:b")))
    await asyncio.sleep(0.05)
    assert [item[0] for item in ListSink.instances[0].items] == [b"a", b"b"]
    assert runtime.collector.sinks[0].late == 1


async def test_sink_records_item_age_from_an_aware_timestamp(function_dir, runtime_for):
    path = function_dir(
        "def handler(c, e):\n    return e.body\n", SPEC % ("", 1, "{sink: {kind: list}}")
    )
    runtime = await runtime_for(path)
    trigger = DirectTrigger.started[0]
    arrived = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=0.2)
    await trigger.send(b"x", timestamp=arrived)
    await trigger.send(b"y")  # no timestamp: no age
    await asyncio.sleep(0.05)
    age = runtime.collector.sinks[0].age
    assert age.count == 1
    assert 0.2 <= age.sum < 5


def test_events_and_responses_stay_plain_objects():
    assert Event(body=b"x").body == b"x"
    assert Response(body={"out": 1}).body == {"out": 1}
    assert "numpy" in sys.modules


# ---------------------------------------------------------------------------
# Draining: later messages of work in flight still go through
# ---------------------------------------------------------------------------


async def test_a_closed_gate_refuses_new_events_but_lets_a_continuation_finish(
    function_dir, runtime_for
):
    from dh_serverless.hookspecs import ShuttingDownError

    path = function_dir("def handler(c, e):\n    return e.body\n", SPEC % ("", 1, "{}"))
    runtime = await runtime_for(path)
    trigger = DirectTrigger.started[0]
    runtime.gate.open = False  # what shutdown does first
    with pytest.raises(ShuttingDownError):
        await trigger.send(b"new")
    response = await trigger.dispatch(Event(body=b"phase 2"), continuation=True)
    assert (response.status_code, response.body) == (200, b"phase 2")
    assert runtime.collector.events[0].events["shutdown"] == 1


# ---------------------------------------------------------------------------
# What every sink does with an item
# ---------------------------------------------------------------------------


def test_sink_items_bodies_as_bytes_and_times_as_iso_text():
    from dh_serverless.core.sinkitems import body_bytes, timestamp_text

    assert body_bytes(b"x") == b"x"
    assert body_bytes(bytearray(b"y")) == b"y"
    assert body_bytes("é") == "é".encode()
    assert body_bytes(None) == b""
    with pytest.raises(TypeError, match="got a ndarray body"):
        body_bytes(np.zeros(2))
    naive = datetime.datetime(2026, 1, 2, 3, 4, 5)
    assert timestamp_text(naive) == "2026-01-02T03:04:05+00:00"
    assert timestamp_text(0) is None
    assert timestamp_text(1700000000) == "1700000000"


# ---------------------------------------------------------------------------
# Trigger options: declared in TriggerOptions, read once, checked
# ---------------------------------------------------------------------------


def test_trigger_options_are_read_from_the_class_and_the_instance():
    from dh_serverless.hookspecs import TriggerOptions

    assert TriggerOptions.of(DirectTrigger) == TriggerOptions()  # none declared: the defaults
    assert TriggerOptions.of(OrderedTrigger).sink_order_wait is None  # set in __init__ only
    spec = type("Spec", (), {"name": "t", "attributes": type("A", (), {"label": "0.5"})()})()
    assert TriggerOptions.of(OrderedTrigger(spec)).sink_order_wait == 0.5


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("one_shot", "yes", "one_shot is 'yes'; expected True or False"),
        ("serving_processes", "shared", 'expected "shared_port" or "port_each"'),
        ("result_converter", staticmethod(lambda r: r), "expected a module-level function"),
        ("sink_order_wait", 0, "sink_order_wait is 0; expected a number of seconds above 0"),
    ],
)
async def test_a_wrongly_typed_trigger_option_stops_the_function_naming_it(
    name, value, message, function_dir, runtime_for, host
):
    from dh_serverless.core.errors import PluginLoadError

    bad = type("BadTrigger", (DirectTrigger,), {name: value})
    host.provide(TRIGGERS, "direct", bad)
    path = function_dir("def handler(c, e):\n    return 'x'\n", SPEC % ("", 1, "{}"))
    with pytest.raises(PluginLoadError, match=message) as info:
        await runtime_for(path)
    assert "trigger kind 'direct': trigger class BadTrigger" in str(info.value)
    assert info.value.exit_code == 2


BAD_CONVERTER = """
def convert(result):
    return Response(body={"not": "bytes"})


from dh_serverless.hookspecs import Response
"""


@pytest.mark.parametrize("kind", ["async", "thread", "process"])
async def test_a_converter_breaking_its_contract_fails_the_event_not_the_trigger(
    kind, function_dir, runtime_for, host, tmp_path, monkeypatch
):
    name = f"bad_convert_{abs(hash(str(tmp_path))) % 100_000}"
    (tmp_path / f"{name}.py").write_text(BAD_CONVERTER)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = __import__(name)
    host.provide(
        TRIGGERS,
        "direct",
        type("Bad", (DirectTrigger,), {"result_converter": staticmethod(module.convert)}),
    )
    code = HANDLERS["async" if kind == "async" else "thread"]
    extra = "workerKind: process" if kind == "process" else ""
    path = function_dir(textwrap.dedent(code), SPEC % (extra, 1, "{}"))
    await runtime_for(path)
    trigger = DirectTrigger.started[0]
    response = await trigger.send(b"text")
    assert response.status_code == 500
    assert response.body.startswith(
        f"TypeError: the trigger's result_converter {name}.convert returned a Response whose "
        "body is dict".encode()
    )
    assert (await trigger.send(b"text")).status_code == 500  # the worker still serves


# ---------------------------------------------------------------------------
# A trigger that cannot start
# ---------------------------------------------------------------------------


class UnbindableTrigger(DirectTrigger):
    async def start(self, dispatch):
        raise OSError(98, "cannot listen on 127.0.0.1:1: Address already in use")


async def test_a_trigger_whose_start_raises_oserror_is_a_user_error_exiting_1(function_dir, host):
    from dh_serverless.core.config import load_function_config
    from dh_serverless.core.errors import UserError
    from dh_serverless.core.runtime import Runtime

    host.provide(TRIGGERS, "direct", UnbindableTrigger)
    path = function_dir("def handler(c, e):\n    return 'x'\n", SPEC % ("", 2, "{}"))
    runtime = Runtime(load_function_config(path), path, health_port=None, host=host)
    with pytest.raises(UserError) as info:
        await runtime.start()
    await runtime.shutdown()
    assert str(info.value) == (
        "trigger t1 (direct) cannot start: cannot listen on 127.0.0.1:1: Address already in use"
    )
    assert info.value.exit_code == 1
    assert runtime.triggers == []  # never started: never stopped
    assert runtime.state == "stopped"


async def test_middleware_passes_a_continuation_on_as_it_was_dispatched():
    from dh_serverless.core.dispatch import compose

    seen = []

    async def core_step(event, continuation=False):
        seen.append((event.body, continuation))
        return Response(body=b"ok")

    async def middleware(event, call_next):
        return await call_next(event)

    dispatch = compose([middleware, middleware], core_step)
    await dispatch(Event(body=b"phase 2"), continuation=True)
    await dispatch(Event(body=b"new"))
    assert seen == [(b"phase 2", True), (b"new", False)]
