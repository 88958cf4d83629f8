"""The runtime in-process: workers, concurrency, timeouts, hooks, sinks and shutdown."""

from __future__ import annotations

import asyncio
import os
import threading

import attrs
import pytest

from dh_serverless.core.dispatch import compose
from dh_serverless.core.errors import ConfigError, HandlerLoadError, PluginLoadError
from dh_serverless.core.plugins import TRIGGERS
from dh_serverless.hookspecs import (
    EventTimeoutError,
    ShuttingDownError,
    WorkerBusyError,
    impl,
)

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
      workerAvailabilityTimeoutMilliseconds: %d
      attributes: %s
"""


async def tick(count: int, ticks: list[int]) -> None:
    """Note ``count`` loop turns 10 ms apart: they all happen only if the loop is not blocked."""
    for i in range(count):
        await asyncio.sleep(0.01)
        ticks.append(i)


def spec(workers: int = 1, wait_ms: int = 100, extra: str = "", attributes: str = "{}") -> str:
    return SPEC % (extra, workers, wait_ms, attributes)


async def test_async_handler_sees_worker_ids_as_strings(function_dir, runtime_for):
    path = function_dir(
        """
        async def init_context(context):
            context.user_data.calls = 0

        async def handler(context, event):
            context.user_data.calls += 1
            return {"id": context.worker_id, "kind": context.trigger.kind,
                    "name": context.trigger_name, "calls": context.user_data.calls}
        """,
        spec(workers=1),
    )
    await runtime_for(path)
    trigger = DirectTrigger.started[0]
    first = await trigger.send()
    second = await trigger.send()
    assert first.status_code == 200
    assert first.content_type == "application/json"
    assert first.body == b'{"id": "0", "kind": "direct", "name": "t1", "calls": 1}'
    assert b'"calls": 2' in second.body


async def test_max_workers_bounds_concurrency_then_busy(function_dir, runtime_for):
    path = function_dir(
        """
        import asyncio
        gate = asyncio.Event()
        running = []

        async def handler(context, event):
            running.append(context.worker_id)
            await gate.wait()
            return "done"
        """,
        spec(workers=3, wait_ms=200),
    )
    runtime = await runtime_for(path)
    trigger = DirectTrigger.started[0]
    tasks = [asyncio.create_task(trigger.send()) for _ in range(5)]
    await asyncio.sleep(0.35)  # past the 200 ms availability timeout
    module = __import__(runtime.handler_spec.split(":")[0])
    assert sorted(module.running) == ["0", "1", "2"]
    module.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert [r.body for r in results if not isinstance(r, Exception)] == [b"done"] * 3
    assert sum(isinstance(r, WorkerBusyError) for r in results) == 2
    assert runtime.collector.events[0].events["busy"] == 2


async def test_waiting_event_gets_the_next_free_worker(function_dir, runtime_for):
    path = function_dir(
        """
        import asyncio
        async def handler(context, event):
            await asyncio.sleep(0.05)
            return context.worker_id
        """,
        spec(workers=1, wait_ms=2000),
    )
    await runtime_for(path)
    trigger = DirectTrigger.started[0]
    results = await asyncio.gather(*(trigger.send() for _ in range(4)))
    assert [r.body for r in results] == [b"0"] * 4


async def test_sync_handler_runs_on_its_worker_thread(function_dir, runtime_for):
    path = function_dir(
        """
        import threading, time
        def init_context(context):
            context.user_data.thread = threading.current_thread().name

        def handler(context, event):
            time.sleep(0.05)  # blocks its thread, not the loop
            assert threading.current_thread().name == context.user_data.thread
            return threading.current_thread().name
        """,
        spec(workers=2),
    )
    await runtime_for(path)
    trigger = DirectTrigger.started[0]
    loop_thread = threading.current_thread().name
    ticks: list[int] = []
    results = await asyncio.gather(trigger.send(), trigger.send(), tick(5, ticks))
    names = {r.body.decode() for r in results[:2]}
    assert len(names) == 2
    assert all(n.startswith("dh-worker-t1-") for n in names)
    assert loop_thread not in names
    assert len(ticks) == 5


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling policies")
async def test_a_worker_thread_is_batch_scheduled_and_the_loop_is_not(function_dir, runtime_for):
    # A woken worker thread must not preempt the event loop: it would only block on the GIL.
    path = function_dir(
        """
        import os
        def handler(context, event):
            return str(os.sched_getscheduler(0))
        """,
        spec(),
    )
    await runtime_for(path)
    response = await DirectTrigger.started[0].send()
    assert response.body.decode() == str(os.SCHED_BATCH)
    assert os.sched_getscheduler(0) == os.SCHED_OTHER


async def test_handler_exception_is_500_and_worker_keeps_serving(function_dir, runtime_for, caplog):
    path = function_dir(
        """
        def handler(context, event):
            if event.body == b"boom":
                raise ValueError("boom")
            return "fine"
        """,
        spec(),
    )
    await runtime_for(path)
    trigger = DirectTrigger.started[0]
    failed = await trigger.send(b"boom")
    assert (failed.status_code, failed.body) == (500, b"ValueError: boom")
    assert "Traceback" in caplog.text  # the traceback goes to the log, not the client
    assert (await trigger.send(b"ok")).body == b"fine"


async def test_debug_puts_traceback_in_body(function_dir, runtime_for):
    path = function_dir("def handler(context, event):\n    raise KeyError('k')\n", spec())
    await runtime_for(path, debug=True)
    response = await DirectTrigger.started[0].send()
    assert response.status_code == 500
    assert response.body.startswith(b"Exception caught in handler - \"'k'\": Traceback")


async def test_async_event_timeout(function_dir, runtime_for):
    path = function_dir(
        """
        import asyncio
        async def handler(context, event):
            await asyncio.sleep(float(event.body or 0))
            return "in time"
        """,
        spec(extra="eventTimeout: 200ms"),
    )
    runtime = await runtime_for(path)
    trigger = DirectTrigger.started[0]
    with pytest.raises(EventTimeoutError):
        await trigger.send(b"5")
    assert (await trigger.send(b"0")).body == b"in time"
    assert runtime.collector.events[0].events["timeout"] == 1


async def test_thread_timeout_replaces_the_lost_worker(function_dir, runtime_for, tmp_path):
    marker = tmp_path / "inits"
    path = function_dir(
        f"""
        import time
        def init_context(context):
            with open({str(marker)!r}, "a") as f:
                f.write("init\\n")

        def handler(context, event):
            time.sleep(float(event.body or 0))
            return "in time"
        """,
        spec(workers=1, wait_ms=3000, extra="eventTimeout: 200ms"),
    )
    runtime = await runtime_for(path)
    trigger = DirectTrigger.started[0]
    with pytest.raises(EventTimeoutError):
        await trigger.send(b"1")
    # capacity comes back: a new worker, with init_context run again, serves the next event
    assert (await trigger.send(b"0")).body == b"in time"
    assert marker.read_text().count("init") == 2
    assert runtime.collector.events[0].restarts == {"lost": 1}


async def test_init_context_failure_stops_the_start(function_dir, runtime_for):
    path = function_dir(
        "def init_context(context):\n    raise RuntimeError('no db')\n"
        "def handler(c, e):\n    pass\n",
        spec(),
    )
    with pytest.raises(
        HandlerLoadError, match="init_context of worker 0 raised RuntimeError: no db"
    ):
        await runtime_for(path)


async def test_unknown_trigger_kind_names_installed_kinds_and_distribution(
    function_dir, runtime_for
):
    path = function_dir(
        "def handler(c, e):\n    pass\n", spec().replace("kind: direct", "kind: nope")
    )
    with pytest.raises(PluginLoadError) as info:
        await runtime_for(path)
    assert "unknown trigger kind 'nope'" in str(info.value)
    assert "dh-trigger-nope" in str(info.value)


async def test_trigger_level_key_in_attributes_says_where_it_belongs(function_dir, runtime_for):
    path = function_dir(
        "def handler(c, e):\n    pass\n", spec(attributes="{max_workers: 3, labl: x}")
    )
    with pytest.raises(ConfigError) as info:
        await runtime_for(path)
    text = str(info.value)
    assert "spec.triggers.t1.attributes.max_workers: belongs to the trigger" in text
    assert "move it to spec.triggers.t1.maxWorkers" in text


async def test_attribute_typo_suggests_the_nearest_key(function_dir, runtime_for):
    path = function_dir("def handler(c, e):\n    pass\n", spec(attributes="{labl: x}"))
    with pytest.raises(ConfigError, match=r"attributes\.labl: unknown key; did you mean 'label'\?"):
        await runtime_for(path)


@attrs.frozen
class Resolution:
    width: int
    height: int


@attrs.frozen
class CameraAttributes:
    resolution: Resolution = Resolution(640, 480)


class CameraTrigger(DirectTrigger):
    attributes_type = CameraAttributes


# ---------------------------------------------------------------------------
# Hooks: one test per hook (the docs meta-test looks for test_hook_<name>)
# ---------------------------------------------------------------------------


async def test_hook_dh_dispatch_middleware(function_dir, runtime_for, host):
    seen = []

    class Timing:
        @impl
        def dh_dispatch_middleware(self, function):
            async def outer(event, call_next):
                seen.append(("outer-before", function.name))
                response = await call_next(event)
                seen.append(("outer-after", response.status_code))
                return response

            return outer

    class Auth:
        @impl
        def dh_dispatch_middleware(self, function):
            async def check(event, call_next):
                if event.get_header("x-key") != "secret":
                    from dh_serverless.hookspecs import Response

                    return Response(body=b"denied", status_code=401)
                seen.append("auth-ok")
                return await call_next(event)

            return check

    class Nothing:
        @impl
        def dh_dispatch_middleware(self, function):
            return None

    for plugin in (Timing(), Auth(), Nothing()):
        host.register(plugin)
    path = function_dir("def handler(c, e):\n    return 'handled'\n", spec())
    await runtime_for(path)
    trigger = DirectTrigger.started[0]
    denied = await trigger.send(headers={"X-Key": "wrong"})
    assert (denied.status_code, denied.body) == (401, b"denied")
    allowed = await trigger.send(headers={"X-Key": "secret"})
    assert allowed.body == b"handled"
    assert seen == [
        ("outer-before", "test"),
        ("outer-after", 401),
        ("outer-before", "test"),
        "auth-ok",
        ("outer-after", 200),
    ]


def test_no_middleware_adds_no_call():
    async def core(event):
        return None

    assert compose([], core) is core


async def test_hook_dh_trigger_started(function_dir, runtime_for, host):
    started = []

    class Observer:
        @impl
        def dh_trigger_started(self, trigger):
            started.append((trigger.name, trigger.dispatch is not None))

    host.register(Observer())
    await runtime_for(function_dir("def handler(c, e):\n    pass\n", spec()))
    assert started == [("t1", True)]


async def test_hook_dh_trigger_stopped(function_dir, runtime_for, host):
    stopped = []

    class Observer:
        @impl
        def dh_trigger_stopped(self, trigger):
            stopped.append((trigger.name, trigger.stopped_with))

        @impl
        def dh_trigger_started(self, trigger):
            raise RuntimeError("a broken observer does not stop the function")

    host.register(Observer())
    runtime = await runtime_for(function_dir("def handler(c, e):\n    pass\n", spec()))
    await runtime.shutdown()
    assert stopped == [("t1", 15.0)]


async def test_hook_dh_register_converters(function_dir, runtime_for, host):
    class Converters:
        @impl
        def dh_register_converters(self, converter):
            def parse(value, _):
                width, height = str(value).split("x")
                return Resolution(int(width), int(height))

            converter.register_structure_hook(Resolution, parse)

    host.provide(TRIGGERS, "camera", CameraTrigger)
    host.register(Converters())
    path = function_dir(
        "def handler(c, e):\n    pass\n",
        spec(attributes="{resolution: 1280x720}").replace("kind: direct", "kind: camera"),
    )
    await runtime_for(path)
    assert DirectTrigger.started[0].spec.attributes.resolution == Resolution(1280, 720)


async def test_hook_dh_sink_emit(function_dir, runtime_for, host):
    class DropOdd:
        @impl
        def dh_sink_emit(self, sink, response, event):
            return event.body not in (b"1", b"3")

    host.register(DropOdd())
    path = function_dir(
        "def handler(c, e):\n    return (500, 'no') if e.body == b'2' else e.body\n",
        spec(attributes="{sink: {kind: list, attributes: {capacity: 5}}}"),
    )
    runtime = await runtime_for(path)
    trigger = DirectTrigger.started[0]
    for body in (b"0", b"1", b"2", b"3", b"4"):
        await trigger.send(body)
    await asyncio.sleep(0.05)
    sink = ListSink.instances[0]
    assert sink.running
    assert sink.spec.attributes.capacity == 5
    assert [item[1] for item in sink.items] == [b"0", b"4"]  # 1, 3 filtered; the 500 never sent
    assert runtime.collector.sinks[0].emitted == 2


async def test_sink_queue_is_bounded_and_drops_oldest(function_dir, runtime_for):
    path = function_dir(
        "def handler(c, e):\n    return e.body\n", spec(attributes="{sink: {kind: list}}")
    )
    runtime = await runtime_for(path)
    channel = runtime.sinks[0]
    trigger = DirectTrigger.started[0]

    async def slow_emit(response, event):
        await asyncio.sleep(10)

    channel.sink.emit = slow_emit
    for i in range(channel.capacity + 20):
        await trigger.send(str(i).encode())
    assert runtime.collector.sinks[0].dropped >= 19
    assert channel.queued <= channel.capacity
    channel.clear()  # nothing left to flush: shutdown need not wait for the slow sink


async def test_shutdown_refuses_new_events_and_runs_callbacks_once(
    function_dir, runtime_for, tmp_path
):
    log = tmp_path / "callbacks"
    path = function_dir(
        f"""
        def init_context(context):
            def note(what):
                with open({str(log)!r}, "a") as f:
                    f.write(what + "\\n")
            context.platform.set_drain_callback(lambda: note("drain " + context.worker_id))
            async def terminated():
                note("terminate " + context.worker_id)
            context.platform.set_termination_callback(terminated)

        def handler(context, event):
            return "ok"
        """,
        spec(workers=2),
    )
    runtime = await runtime_for(path)
    trigger = DirectTrigger.started[0]
    assert runtime._readiness() is None
    await runtime.shutdown()
    await runtime.shutdown()  # a second call does nothing
    assert runtime._readiness() == "stopped"
    with pytest.raises(ShuttingDownError):
        await trigger.send()
    assert sorted(log.read_text().split("\n")[:-1]) == [
        "drain 0",
        "drain 1",
        "terminate 0",
        "terminate 1",
    ]


async def test_a_slow_sync_init_context_does_not_block_the_loop(function_dir, runtime_for):
    path = function_dir(
        """
        import time

        def init_context(context):
            time.sleep(0.3)  # loading a model, say

        async def handler(context, event):
            return "ok"
        """,
        spec(),
    )
    ticks: list[int] = []
    ticker = asyncio.create_task(tick(10, ticks))
    await runtime_for(path)
    assert len(ticks) == 10  # the loop kept running (health answers) while init_context slept
    await ticker
    assert (await DirectTrigger.started[0].send()).body == b"ok"


async def test_a_slow_handler_module_import_does_not_block_the_loop(function_dir, runtime_for):
    # DH Core's rendered handler.py imports the DH SDK (1-3 s) at module level.
    path = function_dir(
        """
        import time

        time.sleep(0.3)  # a heavy import, say

        async def handler(context, event):
            return "imported"
        """,
        spec(),
    )
    ticks: list[int] = []
    ticker = asyncio.create_task(tick(10, ticks))
    await runtime_for(path)
    assert len(ticks) == 10  # the loop kept running (health answers) while the module imported
    await ticker
    assert (await DirectTrigger.started[0].send()).body == b"imported"
