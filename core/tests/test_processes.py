"""Process workers: spawned interpreters, crashes, timeouts, large bodies, no orphans."""

from __future__ import annotations

import asyncio
import os
import signal
import struct

import psutil
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dh_serverless.core.channel import Channel as _Channel
from dh_serverless.hookspecs import EventTimeoutError, WorkerLostError

from .conftest import DirectTrigger

SPEC = """
apiVersion: nuclio.io/v1
kind: NuclioFunction
metadata: {name: procs}
spec:
  handler: MODULE:handler
  workerKind: process
  %s
  triggers:
    t1: {kind: direct, maxWorkers: 2, workerAvailabilityTimeoutMilliseconds: 10000}
"""

CODE = """
import os, time

def init_context(context):
    context.user_data.pid = os.getpid()
    context.user_data.inits = getattr(context.user_data, "inits", 0) + 1

def handler(context, event):
    command = event.get_header("x-do")
    if command == "sleep":
        time.sleep(float(event.body))
    if command == "size":
        first = event.body[:1].decode()
        return (200, {"size": len(event.body), "first": first, "json": event.content_type})
    return {"pid": os.getpid(), "worker": context.worker_id, "trigger": context.trigger.name}
"""


def _pid(response) -> int:
    import json

    return json.loads(response.body)["pid"]


async def test_each_worker_is_its_own_spawned_process(function_dir, runtime_for):
    runtime = await runtime_for(function_dir(CODE, SPEC % ""))
    trigger = DirectTrigger.started[0]
    responses = await asyncio.gather(
        *(trigger.send(headers={"x-do": "sleep"}, body=b"0.2") for _ in range(2))
    )
    pids = {_pid(r) for r in responses}
    assert len(pids) == 2
    assert os.getpid() not in pids
    children = {p.pid for p in psutil.Process().children()}
    assert pids <= children
    workers = {w.process.pid for w in runtime.pools[0].workers}
    assert workers == pids


async def test_large_body_crosses_the_process_boundary(function_dir, runtime_for):
    await runtime_for(function_dir(CODE, SPEC % ""))
    body = b"x" * (1024 * 1024)
    response = await DirectTrigger.started[0].send(
        body, headers={"x-do": "size"}, content_type="text/plain"
    )
    assert response.body == b'{"size": 1048576, "first": "x", "json": "text/plain"}'


async def test_kill_9_mid_request_answers_lost_and_respawns(function_dir, runtime_for):
    runtime = await runtime_for(function_dir(CODE, SPEC % ""))
    trigger = DirectTrigger.started[0]
    pool = runtime.pools[0]
    victim = pool.workers[0].process.pid
    slow = asyncio.create_task(trigger.send(b"5", headers={"x-do": "sleep"}))
    other = asyncio.create_task(trigger.send(b"0.5", headers={"x-do": "sleep"}))
    await asyncio.sleep(0.2)
    os.kill(victim, signal.SIGKILL)
    with pytest.raises(WorkerLostError, match="died while handling the event"):
        await slow
    assert _pid(await other) != victim  # the other event is not lost
    for _ in range(100):  # the replacement comes up and serves
        if all(w.process.is_alive() for w in pool.workers) and runtime.collector.events[0].restarts:
            break
        await asyncio.sleep(0.05)
    responses = await asyncio.gather(
        *(trigger.send(b"0.1", headers={"x-do": "sleep"}) for _ in range(2))
    )
    assert victim not in {_pid(r) for r in responses}
    assert runtime.collector.events[0].restarts == {"lost": 1}
    assert not psutil.pid_exists(victim) or psutil.Process(victim).status() == psutil.STATUS_ZOMBIE


async def test_event_timeout_kills_and_respawns_the_process(function_dir, runtime_for):
    runtime = await runtime_for(function_dir(CODE, SPEC % "eventTimeout: 300ms"))
    trigger = DirectTrigger.started[0]
    before = {w.process.pid for w in runtime.pools[0].workers}
    with pytest.raises(EventTimeoutError):
        await trigger.send(b"30", headers={"x-do": "sleep"})
    for _ in range(100):
        after = {w.process.pid for w in runtime.pools[0].workers}
        if len(after - before) == 1 and all(w.process.is_alive() for w in runtime.pools[0].workers):
            break
        await asyncio.sleep(0.05)
    assert len(after - before) == 1
    responses = await asyncio.gather(
        *(trigger.send(headers={"x-do": "sleep"}, body=b"0.2") for _ in range(2))
    )
    assert {_pid(r) for r in responses} == after


async def test_init_context_failure_in_a_process_stops_the_start(function_dir, runtime_for):
    from dh_serverless.core.errors import HandlerLoadError

    path = function_dir(
        "def init_context(c):\n    raise OSError('no model')\ndef handler(c, e):\n    pass\n",
        SPEC % "",
    )
    with pytest.raises(HandlerLoadError, match="raised OSError: no model"):
        await runtime_for(path)


async def test_no_child_process_outlives_shutdown(function_dir, runtime_for):
    runtime = await runtime_for(function_dir(CODE, SPEC % ""))
    pids = [w.process.pid for w in runtime.pools[0].workers]
    assert all(psutil.pid_exists(p) for p in pids)
    await runtime.shutdown()
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


async def test_async_handler_in_a_process(function_dir, runtime_for):
    path = function_dir(
        "import asyncio, os\n"
        "async def handler(c, e):\n    await asyncio.sleep(0)\n    return str(os.getpid())\n",
        SPEC % "",
    )
    await runtime_for(path)
    response = await DirectTrigger.started[0].send()
    assert int(response.body) != os.getpid()


# ---------------------------------------------------------------------------
# The parent's framing parser, fed the bytes in arbitrary pieces
# ---------------------------------------------------------------------------


def _frame(message: bytes) -> bytes:
    return struct.pack("!i", len(message)) + message


@settings(max_examples=200, deadline=None)
@given(
    messages=st.lists(st.binary(max_size=300), max_size=8),
    cuts=st.lists(st.integers(min_value=1, max_value=64), max_size=50),
)
def test_channel_reassembles_messages_however_the_bytes_arrive(messages, cuts):
    channel = _Channel()
    stream = b"".join(_frame(m) for m in messages)
    pos, cut = 0, iter(cuts)
    while pos < len(stream):
        buffer = channel.get_buffer(-1)
        size = min(len(buffer), next(cut, 7), len(stream) - pos)
        buffer[:size] = stream[pos : pos + size]
        channel.buffer_updated(size)
        pos += size
    assert list(channel._ready) == messages


def test_channel_reads_the_long_length_form():
    channel = _Channel()
    stream = struct.pack("!i", -1) + struct.pack("!Q", 3) + b"abc"
    for byte in stream:
        channel.get_buffer(-1)[:1] = bytes([byte])
        channel.buffer_updated(1)
    assert list(channel._ready) == [b"abc"]
