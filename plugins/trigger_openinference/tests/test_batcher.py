"""The batching policy on its own (``_batcher.Batcher``): sizes, delay, preferred sizes,
the queue bound, cancelled callers, close. In-process: no tensors, no sockets."""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dh_serverless.triggers.openinference._batcher import Batcher


class Full(Exception):
    pass


class Closed(Exception):
    pass


class Recorder:
    """A ``run_batch`` that records each batch and answers each item with ``(item, n)``."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.batches: list[tuple[object, list[object]]] = []
        self.seconds = seconds
        self.gate: asyncio.Event | None = None

    async def __call__(self, key, items):
        self.batches.append((key, list(items)))
        if self.gate is not None:
            await self.gate.wait()
        if self.seconds:
            await asyncio.sleep(self.seconds)
        if any(item == "boom" for item in items):
            raise ValueError("boom")
        return [ValueError(f"bad {i}") if i == "bad" else (i, len(items)) for i in items]


def make(run, **options) -> Batcher:
    settings = {
        "max_batch_size": 4,
        "max_queue_delay": 0.0,
        "max_queue_size": 100,
        "concurrency": 1,
        "reject": Full,
        "closed": Closed,
    }
    settings.update(options)
    return Batcher(run, **settings)


async def test_items_of_one_turn_batch_together_up_to_the_size():
    run = Recorder()
    batcher = make(run)
    results = await asyncio.gather(*(batcher.submit("k", i, 1) for i in range(10)))
    assert [len(items) for _, items in run.batches] == [4, 4, 2]
    assert results == [(i, 4) for i in range(8)] + [(8, 2), (9, 2)]


async def test_rows_count_toward_the_size_and_keys_never_mix():
    run = Recorder()
    batcher = make(run)
    calls = [batcher.submit("a", "a3", 3), batcher.submit("b", "b1", 1)]
    calls += [batcher.submit("a", "a2", 2), batcher.submit("a", "a1", 1)]
    await asyncio.gather(*calls)
    assert sorted((k, items) for k, items in run.batches) == [
        ("a", ["a2", "a1"]),
        ("a", ["a3"]),
        ("b", ["b1"]),
    ]


async def test_a_lone_item_waits_the_delay_and_no_longer():
    run = Recorder()
    batcher = make(run, max_queue_delay=0.2)
    start = time.perf_counter()
    assert await batcher.submit("k", "x", 1) == ("x", 1)
    waited = time.perf_counter() - start
    assert 0.19 <= waited < 0.2 + 0.1, waited


async def test_a_full_batch_goes_without_waiting():
    run = Recorder()
    batcher = make(run, max_queue_delay=30.0)
    start = time.perf_counter()
    await asyncio.gather(*(batcher.submit("k", i, 2) for i in range(2)))
    assert time.perf_counter() - start < 5
    assert [len(items) for _, items in run.batches] == [2]


async def test_a_preferred_size_goes_without_waiting():
    run = Recorder()
    batcher = make(run, max_batch_size=8, max_queue_delay=30.0, preferred=(3,))
    start = time.perf_counter()
    await asyncio.gather(*(batcher.submit("k", i, 1) for i in range(3)))
    assert time.perf_counter() - start < 5
    assert [len(items) for _, items in run.batches] == [3]


async def test_items_wait_for_a_free_slot_and_then_go_together():
    run = Recorder()
    run.gate = asyncio.Event()
    batcher = make(run, max_batch_size=16)
    first = asyncio.ensure_future(batcher.submit("k", "first", 1))
    await asyncio.sleep(0.01)
    assert batcher.running == 1
    rest = [asyncio.ensure_future(batcher.submit("k", i, 1)) for i in range(5)]
    await asyncio.sleep(0.01)
    assert batcher.waiting == 5
    assert len(run.batches) == 1
    run.gate.set()
    await asyncio.gather(first, *rest)
    assert [len(items) for _, items in run.batches] == [1, 5]


async def test_beyond_max_queue_size_a_submit_is_refused_at_once():
    run = Recorder()
    run.gate = asyncio.Event()
    batcher = make(run, max_queue_size=2)
    running = asyncio.ensure_future(batcher.submit("k", "running", 1))
    await asyncio.sleep(0.01)
    waiting = [asyncio.ensure_future(batcher.submit("k", i, 1)) for i in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(Full):
        await batcher.submit("k", "one too many", 1)
    run.gate.set()
    assert await asyncio.gather(running, *waiting) == [("running", 1), (0, 2), (1, 2)]


async def test_a_failing_batch_fails_its_own_items_only():
    run = Recorder()
    batcher = make(run, max_batch_size=2)
    calls = [batcher.submit("k", i, 1) for i in ("boom", 1, 2, "bad")]
    results = await asyncio.gather(*calls, return_exceptions=True)
    kinds = [type(r).__name__ for r in results]
    assert kinds == ["ValueError", "ValueError", "tuple", "ValueError"]
    assert str(results[1]) == "boom"
    assert str(results[3]) == "bad bad"
    assert results[2] == (2, 2)


async def test_a_cancelled_caller_is_dropped_and_the_others_answered():
    run = Recorder()
    run.gate = asyncio.Event()
    batcher = make(run, max_batch_size=8)
    blocker = asyncio.ensure_future(batcher.submit("k", "blocker", 1))
    await asyncio.sleep(0.01)
    gone = asyncio.ensure_future(batcher.submit("k", "gone", 1))
    kept = asyncio.ensure_future(batcher.submit("k", "kept", 1))
    await asyncio.sleep(0.01)
    gone.cancel()
    run.gate.set()
    assert await kept == ("kept", 1)
    await blocker
    assert run.batches[1][1] == ["kept"]
    assert batcher.waiting == 0


async def test_close_sends_what_waits_and_refuses_new_items():
    run = Recorder()
    batcher = make(run, max_queue_delay=30.0)
    waiting = asyncio.ensure_future(batcher.submit("k", "queued", 1))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    batcher.close()
    assert await asyncio.wait_for(waiting, 5) == ("queued", 1)
    with pytest.raises(Closed):
        await batcher.submit("k", "late", 1)


async def test_metrics_callback_sees_rows_and_delays():
    seen: list[tuple[int, list[float]]] = []
    batcher = make(Recorder(), on_batch=lambda rows, delays: seen.append((rows, delays)))
    await asyncio.gather(batcher.submit("k", 1, 2), batcher.submit("k", 2, 1))
    assert len(seen) == 1
    assert seen[0][0] == 3
    assert len(seen[0][1]) == 2
    assert all(0 <= d < 1 for d in seen[0][1])


# ---------------------------------------------------------------------------
# Properties (hypothesis): any arrivals, any settings
# ---------------------------------------------------------------------------

arrivals = st.lists(
    st.tuples(st.sampled_from("abc"), st.integers(0, 4), st.sampled_from([0, 0, 0.001])),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(
    arrivals=arrivals,
    max_batch_size=st.integers(4, 12),
    concurrency=st.integers(1, 3),
    delay=st.sampled_from([0.0, 0.002]),
    preferred=st.lists(st.integers(1, 4), max_size=2),
)
def test_every_item_is_answered_once_from_one_batch_of_its_key(
    arrivals, max_batch_size, concurrency, delay, preferred
):
    async def scenario() -> None:
        run = Recorder()
        batcher = make(
            run,
            max_batch_size=max_batch_size,
            max_queue_delay=delay,
            preferred=preferred,
            concurrency=concurrency,
        )
        calls = []
        for index, (key, rows, pause) in enumerate(arrivals):
            calls.append(asyncio.ensure_future(batcher.submit(key, (key, index, rows), rows)))
            if pause:
                await asyncio.sleep(pause)
        results = await asyncio.wait_for(asyncio.gather(*calls), 30)
        assert [item for item, _ in results] == [
            (key, index, rows) for index, (key, rows, _) in enumerate(arrivals)
        ]
        seen = []
        for key, items in run.batches:
            assert {item[0] for item in items} == {key}
            assert sum(item[2] for item in items) <= max_batch_size
            seen += [item[1] for item in items]
        assert sorted(seen) == list(range(len(arrivals)))
        assert (batcher.waiting, batcher.running) == (0, 0)

    asyncio.run(scenario())
