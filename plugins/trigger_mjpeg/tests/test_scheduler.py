"""LatestWins: frames start at once when a slot is free; a waiting handler keeps its slot."""

from __future__ import annotations

import asyncio
import logging

import pytest

from dh_serverless.core.api import SourceLink
from dh_serverless.hookspecs import Event, FunctionInfo, Response, TriggerSpec
from dh_serverless.hookspecs.metrics import Metrics
from dh_serverless.triggers.mjpeg.metrics import TriggerMetrics
from dh_serverless.triggers.mjpeg.scheduler import LatestWins


def frame(n: int) -> Event:
    return Event(body=b"", fields={"frame_num": n})


def scheduler(dispatch, slots: int = 1) -> tuple[LatestWins, TriggerMetrics]:
    spec = TriggerSpec(name="cam", kind="mjpeg", attributes=None, function=FunctionInfo("f"))
    link = SourceLink(spec, "mjpeg", "http://cam/", reconnect_delay=1.0, max_reconnect_delay=1.0)
    metrics = TriggerMetrics(Metrics(), "cam", link)
    return LatestWins(dispatch, slots, metrics, logging.getLogger("test")), metrics


async def test_a_handler_that_does_not_wait_is_done_inside_offer():
    seen = []

    async def dispatch(event: Event) -> Response:
        seen.append(event.fields["frame_num"])
        return Response(body=b"ok")

    sched, metrics = scheduler(dispatch)
    for n in range(5):
        sched.offer(frame(n))
        assert sched.running == 0  # no task: the slot is already free
    assert seen == [0, 1, 2, 3, 4]
    assert metrics.processed.value == 5
    assert metrics.superseded.value == 0


async def test_a_waiting_handler_keeps_its_slot_and_the_newest_frame_wins():
    release = asyncio.Event()
    done = []

    async def dispatch(event: Event) -> Response:
        await release.wait()
        await asyncio.sleep(0)  # a bare yield too
        done.append(event.fields["frame_num"])
        return Response(body=b"ok")

    sched, metrics = scheduler(dispatch)
    for n in range(4):
        sched.offer(frame(n))
    assert sched.running == 1
    assert sched.waiting == 1
    assert metrics.superseded.value == 2  # frames 1 and 2 replaced by 3
    release.set()
    for _ in range(50):
        await asyncio.sleep(0)
        if len(done) == 2:
            break
    assert done == [0, 3]
    assert metrics.processed.value == 2


async def test_an_error_in_a_waiting_handler_is_counted_and_the_slot_freed():
    async def dispatch(event: Event) -> Response:
        await asyncio.sleep(0.001)
        raise ValueError("broken")

    sched, metrics = scheduler(dispatch)
    sched.offer(frame(0))
    await sched.drain(1.0)
    assert metrics.failed.value == 1
    assert sched.running == 0


async def test_drain_cancels_a_handler_past_the_timeout():
    cancelled = asyncio.Event()

    async def dispatch(event: Event) -> Response:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return Response(body=b"ok")  # pragma: no cover

    sched, _ = scheduler(dispatch)
    sched.offer(frame(0))
    await sched.drain(0.01)
    assert cancelled.is_set()
    assert sched.running == 0


@pytest.mark.parametrize("slots", [1, 3])
async def test_frames_reach_dispatch_in_order(slots):
    order = []

    async def dispatch(event: Event) -> Response:
        order.append(event.fields["frame_num"])
        if event.fields["frame_num"] % 2:
            await asyncio.sleep(0)
        return Response(body=b"ok")

    sched, _ = scheduler(dispatch, slots)
    for n in range(20):
        sched.offer(frame(n))
        await sched.settle()
    await sched.drain(1.0)
    assert order == sorted(order)
