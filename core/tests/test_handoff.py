"""Handoff: bounded, never waits, drops by a named policy and counts every drop once."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dh_serverless.core.handoff import Handoff


class Consumer:
    def __init__(self) -> None:
        self.seen: list[int] = []
        self.gate = asyncio.Event()

    async def __call__(self, item: int) -> None:
        await self.gate.wait()
        self.seen.append(item)


async def blocked(policy: str, capacity: int = 3) -> tuple[Handoff[int], Consumer, list[int]]:
    consumer, dropped = Consumer(), []
    handoff = Handoff(consumer, capacity=capacity, policy=policy, on_drop=dropped.append)
    handoff.start()
    handoff.offer(0)
    await asyncio.sleep(0)  # the consumer takes 0 and waits on the gate
    return handoff, consumer, dropped


@pytest.mark.parametrize(
    ("policy", "accepted", "kept", "dropped"),
    [
        ("drop_oldest", [True] * 5, [3, 4, 5], [1, 2]),
        ("drop_newest", [True, True, True, False, False], [1, 2, 3], [4, 5]),
        ("latest", [True] * 5, [5], [1, 2, 3, 4]),
    ],
)
async def test_a_full_handoff_drops_by_its_policy(policy, accepted, kept, dropped):
    handoff, consumer, drops = await blocked(policy)
    assert [handoff.offer(i) for i in range(1, 6)] == accepted
    assert drops == dropped
    assert handoff.dropped == len(dropped)
    consumer.gate.set()
    await handoff.close(5)
    assert consumer.seen == [0, *kept]


async def test_items_reach_several_consumers_in_order_and_close_waits_for_them():
    seen: list[int] = []

    async def consume(item: int) -> None:
        await asyncio.sleep(0.001 * (item % 3))
        seen.append(item)

    handoff = Handoff(consume, capacity=100, consumers=4)
    handoff.start()
    for i in range(50):
        handoff.offer(i)
    await handoff.close(5)
    assert sorted(seen) == list(range(50))
    assert handoff.dropped == 0


async def test_a_failing_item_does_not_stop_the_consumer():
    seen: list[int] = []

    async def consume(item: int) -> None:
        if item == 1:
            raise RuntimeError("bad item")
        seen.append(item)

    handoff = Handoff(consume, capacity=10)
    handoff.start()
    for i in range(3):
        handoff.offer(i)
    await handoff.close(5)
    assert seen == [0, 2]


async def test_close_gives_up_after_its_timeout_and_counts_what_was_left():
    handoff, _, drops = await blocked("drop_oldest")
    handoff.offer(1)
    handoff.offer(2)
    await handoff.close(0.05)
    assert drops == [1, 2]


def test_an_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="policy must be one of drop_oldest, drop_newest, latest"):
        Handoff(Consumer(), capacity=1, policy="fifo")  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(
    policy=st.sampled_from(["drop_oldest", "drop_newest", "latest"]),
    capacity=st.integers(1, 5),
    count=st.integers(0, 30),
)
def test_nothing_is_lost_without_being_counted(policy, capacity, count):
    async def scenario() -> None:
        handoff, consumer, drops = await blocked(policy, capacity)
        for i in range(1, count + 1):
            handoff.offer(i)
            assert handoff.queued <= capacity
        consumer.gate.set()
        await handoff.close(5)
        assert sorted(consumer.seen + drops) == list(range(count + 1))
        assert handoff.dropped == len(drops)

    asyncio.run(scenario())
