"""What a handler or a dying worker does costs at most its own event (issue 22).

A handler that calls ``sys.exit`` or raises ``SystemExit``/``KeyboardInterrupt`` gets a
500 for that event and the runtime keeps serving; SIGTERM answers every in-flight event
of every worker kind; an idle process worker that died is replaced before it is given
an event; thread workers release their last event and result.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal

import pytest

from dh_serverless.hookspecs import WorkerLostError

from .conftest import DirectTrigger

SPEC = """
apiVersion: nuclio.io/v1
kind: NuclioFunction
metadata: {name: robust}
spec:
  handler: MODULE:handler
  %s
  triggers:
    t1: {kind: direct, maxWorkers: 2, workerAvailabilityTimeoutMilliseconds: 20000}
"""

EXITS = """
import asyncio, os, sys, time

def handler(context, event):
    what = event.get_header("x-do")
    if what == "exit":
        sys.exit(3)
    if what == "systemexit":
        raise SystemExit("bye")
    if what == "coroutine-exit":
        async def later():
            sys.exit(4)
        return later()
    if what == "sleep":
        time.sleep(float(event.body))
    return {"pid": os.getpid()}
"""

ASYNC_EXITS = """
import asyncio, os, sys

async def handler(context, event):
    what = event.get_header("x-do")
    if what == "exit":
        sys.exit(3)
    if what == "systemexit":
        raise SystemExit("bye")
    if what == "sleep":
        await asyncio.sleep(float(event.body))
    return {"pid": os.getpid()}
"""


@pytest.mark.parametrize("kind", ["thread", "process"])
@pytest.mark.parametrize("what", ["exit", "systemexit", "coroutine-exit"])
async def test_a_sync_handler_that_exits_fails_only_its_event(
    function_dir, runtime_for, kind, what
):
    await runtime_for(function_dir(EXITS, SPEC % f"workerKind: {kind}"))
    trigger = DirectTrigger.started[0]
    other = asyncio.create_task(trigger.send(b"0.3", headers={"x-do": "sleep"}))
    response = await trigger.send(headers={"x-do": what})
    assert response.status_code == 500
    assert response.body.startswith(b"SystemExit")
    assert (await other).status_code == 200  # the unrelated event finished
    assert (await trigger.send()).status_code == 200  # and the runtime still serves


@pytest.mark.parametrize("what", ["exit", "systemexit"])
async def test_an_async_handler_that_exits_fails_only_its_event(function_dir, runtime_for, what):
    await runtime_for(function_dir(ASYNC_EXITS, SPEC % ""))
    trigger = DirectTrigger.started[0]
    other = asyncio.create_task(trigger.send(b"0.3", headers={"x-do": "sleep"}))
    response = await trigger.send(headers={"x-do": what})
    assert response.status_code == 500
    assert response.body.startswith(b"SystemExit")
    assert (await other).status_code == 200
    assert (await trigger.send()).status_code == 200


# ---------------------------------------------------------------------------
# SIGTERM-style drain with process workers: every in-flight event is answered
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("in_flight", [1, 2])
async def test_drain_answers_every_in_flight_event_of_process_workers(
    function_dir, runtime_for, in_flight
):
    runtime = await runtime_for(
        function_dir(EXITS, SPEC % "workerKind: process\n  gracefulShutdownTimeout: 15s")
    )
    trigger = DirectTrigger.started[0]
    sends = [
        asyncio.create_task(trigger.send(b"1.0", headers={"x-do": "sleep"}))
        for _ in range(in_flight)
    ]
    await asyncio.sleep(0.3)
    # what the runtime does on SIGTERM: drain callbacks start while the events run
    drains = asyncio.gather(*(p.drain() for p in runtime.pools))
    done, _ = await asyncio.wait(sends, timeout=5)
    assert len(done) == in_flight, "an in-flight event was never answered"
    for task in sends:
        assert task.result().status_code == 200
        assert "pid" in json.loads(task.result().body)
    await asyncio.wait_for(drains, 5)


# ---------------------------------------------------------------------------
# A process worker that died while idle is replaced before it is given an event
# ---------------------------------------------------------------------------


async def test_a_dead_idle_process_worker_takes_no_event_with_it(function_dir, runtime_for):
    runtime = await runtime_for(function_dir(EXITS, SPEC % "workerKind: process"))
    trigger = DirectTrigger.started[0]
    pool = runtime.pools[0]
    victims = [w.process.pid for w in pool.workers]
    os.kill(victims[0], signal.SIGKILL)
    await asyncio.sleep(1.0)
    responses = await asyncio.gather(*(trigger.send() for _ in range(8)))
    assert [r.status_code for r in responses] == [200] * 8
    assert victims[0] not in {json.loads(r.body)["pid"] for r in responses}


async def test_every_idle_process_worker_dead_still_answers_the_next_events(
    function_dir, runtime_for
):
    runtime = await runtime_for(function_dir(EXITS, SPEC % "workerKind: process"))
    trigger = DirectTrigger.started[0]
    victims = [w.process.pid for w in runtime.pools[0].workers]
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    await asyncio.sleep(1.0)
    try:
        responses = await asyncio.gather(*(trigger.send() for _ in range(4)))
    except WorkerLostError as exc:
        pytest.fail(f"an event went to a worker that had died idle: {exc}")
    assert [r.status_code for r in responses] == [200] * 4
    assert not set(victims) & {json.loads(r.body)["pid"] for r in responses}
    assert runtime.collector.events[0].restarts.get("died", 0) == 2


# ---------------------------------------------------------------------------
# Thread workers keep no reference to the last event or result
# ---------------------------------------------------------------------------

KEEPS = """
FREED = []

class Big(bytes):
    def __del__(self):
        FREED.append("result")

def handler(context, event):
    return context.Response(body=Big(b"x" * 1000), status_code=200)
"""


async def test_a_thread_worker_keeps_no_event_or_result_after_answering(function_dir, runtime_for):
    import sys

    from dh_serverless.hookspecs import Event

    runtime = await runtime_for(function_dir(KEEPS, SPEC % "", module="keeps"))
    trigger = DirectTrigger.started[0]
    assert trigger.dispatch is not None
    freed: list[str] = []

    class Body(bytes):
        def __del__(self) -> None:
            freed.append("event")

    response = await trigger.dispatch(Event(body=Body(b"y" * 1000), size=1000))
    assert response.status_code == 200
    assert type(response.body).__name__ == "Big"
    del response
    await asyncio.sleep(0.1)  # the worker threads are back waiting on their inboxes
    gc.collect()
    assert freed == ["event"], "a worker kept the last event alive"
    assert sys.modules["keeps"].FREED == ["result"], "a worker kept the last result alive"
    assert runtime.pools[0].workers


# ---------------------------------------------------------------------------
# Threads left by eventTimeout are bounded and reported
# ---------------------------------------------------------------------------

SLOW = """
import threading, time

def handler(context, event):
    if event.get_header("x-do") == "sleep":
        time.sleep(float(event.body))
    return "ok"
"""


def _worker_threads() -> list:
    import threading

    return [t for t in threading.enumerate() if t.name.startswith("dh-worker-t1")]


async def test_threads_left_by_event_timeout_are_bounded_and_reported(function_dir, runtime_for):
    from prometheus_client.core import GaugeMetricFamily

    from dh_serverless.hookspecs import EventTimeoutError

    spec = SPEC.replace("maxWorkers: 2", "maxWorkers: 1") % "eventTimeout: 200ms"
    runtime = await runtime_for(function_dir(SLOW, spec))
    trigger = DirectTrigger.started[0]
    before = len(_worker_threads())
    for _ in range(5):  # each overruns; at most maxWorkers threads may be left behind
        with pytest.raises(EventTimeoutError):
            await trigger.send(b"3", headers={"x-do": "sleep"})
        await asyncio.sleep(0.2)
        assert len(_worker_threads()) <= before + 1, "a thread per timed-out event"
    gauges = {m.name: m for m in runtime.collector.collect() if isinstance(m, GaugeMetricFamily)}
    abandoned = gauges["dh_worker_threads_abandoned"].samples
    assert len(abandoned) == 1
    assert 1 <= abandoned[0].value <= 2  # at most maxWorkers left, plus the one just timed out
    # once a left-over thread finishes, the worker is replaced and events are served
    response = await asyncio.wait_for(trigger.send(b"0", headers={"x-do": "sleep"}), 15)
    assert response.status_code == 200
