"""Lifecycle: one start, work tracked in flight, drained then cancelled, reported once."""

from __future__ import annotations

import asyncio
import logging

import pytest

from dh_serverless.core.api import Lifecycle, drain_tasks


async def test_a_second_start_is_refused_by_name() -> None:
    life = Lifecycle("http trigger 'web'")
    life.start()
    with pytest.raises(RuntimeError, match=r"^http trigger 'web' already started$"):
        life.start()


async def test_stop_without_start_has_nothing_to_stop_and_a_stopped_one_starts_again() -> None:
    life = Lifecycle("t")
    assert life.begin_stop() is False
    life.start()
    assert life.begin_stop() is True
    assert (life.running, life.stopping) == (False, True)
    assert life.begin_stop() is False  # a second stop() returns at once
    with pytest.raises(RuntimeError):
        life.start()  # still stopping
    assert await life.drain(1.0) == 0
    assert (life.running, life.stopping) == (False, False)
    life.start()  # stopped: may start again
    assert life.running


async def test_abort_forgets_a_failed_start() -> None:
    life = Lifecycle("t")
    life.start()
    life.abort()
    life.start()


async def test_drain_waits_for_work_in_flight_and_returns_when_it_ends() -> None:
    life = Lifecycle("t")
    life.start()
    release = asyncio.Event()
    finished = []

    async def request() -> None:
        task = asyncio.current_task()
        assert task is not None
        life.enter(task)
        try:
            await release.wait()
            finished.append(True)
        finally:
            life.leave(task)

    task = asyncio.get_running_loop().create_task(request())
    await asyncio.sleep(0)
    assert life.in_flight == 1
    life.begin_stop()
    drain = asyncio.get_running_loop().create_task(life.drain(30.0))
    await asyncio.sleep(0.05)
    assert not drain.done()  # the request still runs
    release.set()
    assert await asyncio.wait_for(drain, 5.0) == 0
    assert finished == [True]
    assert life.in_flight == 0
    await task


async def test_drain_cancels_what_outlives_the_timeout_and_logs_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    life = Lifecycle("http trigger 'web'", logging.getLogger("test.lifecycle"))
    life.start()
    cancelled = []

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    life.spawn(forever())
    life.spawn(forever())
    await asyncio.sleep(0)
    assert life.in_flight == 2
    life.begin_stop()
    loop = asyncio.get_running_loop()
    start = loop.time()
    with caplog.at_level(logging.WARNING, "test.lifecycle"):
        assert await life.drain(0.1) == 2
    assert loop.time() - start < 2.0
    assert cancelled == [True, True]
    assert life.in_flight == 0
    assert "http trigger 'web': cancelling 2 request(s) still running after 0.1s" in caplog.text


async def test_spawned_work_leaves_when_it_ends() -> None:
    life = Lifecycle("t")

    async def quick() -> int:
        return 7

    task = life.spawn(quick())
    assert await task == 7
    await asyncio.sleep(0)  # the done callback runs
    assert life.in_flight == 0
    assert life.tracked() == []


async def test_drain_with_nothing_in_flight_returns_at_once() -> None:
    life = Lifecycle("t")
    life.start()
    life.begin_stop()
    assert await asyncio.wait_for(life.drain(60.0), 1.0) == 0
    assert "stopped" in repr(life)


async def test_drain_tasks_lets_the_quick_finish_and_cancels_the_slow() -> None:
    finished: list[str] = []

    async def work(name: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        finished.append(name)

    quick = asyncio.create_task(work("quick", 0.01))
    slow = asyncio.create_task(work("slow", 60.0))
    done_already = asyncio.create_task(work("done", 0.0))
    await asyncio.sleep(0.001)
    assert await drain_tasks([quick, slow, done_already], 0.5) == [slow]
    assert finished == ["done", "quick"]
    assert slow.cancelled()
    assert await drain_tasks([quick, slow], 0.5) == []  # nothing left to wait for
