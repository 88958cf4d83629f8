"""bench/core: the per-event cost of the core alone, in process, in µs per event.

Each step a trigger pays per event, measured on its own and then together, against the floor
of calling the handler directly:

- ``EventFactory``: build an event as a trigger does on its hot path (``new_event``, the
  one-off form, beside it);
- ``dispatch`` (async handler): the whole core path — gate, worker, handler, Nuclio's
  conversion of a ``dict`` to a JSON ``Response``, counters;
- ``dispatch`` (thread handler): the same with the handler on a worker thread;
- ``to_response``: the conversion alone.

Then a profile of the async ``dispatch`` names where each microsecond goes.

    python bench/core/run.py [--events 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from dh_serverless.core.dispatch import Gate, build_dispatch
from dh_serverless.core.events import EventFactory, new_event
from dh_serverless.core.function import LoadedHandler
from dh_serverless.core.metrics import EventStats
from dh_serverless.core.pool import WorkerPool
from dh_serverless.core.responses import to_response
from dh_serverless.core.workers import AsyncWorker, ThreadWorker, WorkerOptions
from dh_serverless.hookspecs.types import TriggerInfo

TRIGGER = TriggerInfo("http", "bench")
BODY = b'{"name": "Ada"}'
HEADERS = {"Content-Type": "application/json", "X-Request-Id": "42"}


async def handle_async(context: Any, event: Any) -> dict[str, str]:
    return {"hello": "world"}


def handle_sync(context: Any, event: Any) -> dict[str, str]:
    return {"hello": "world"}


FACTORY = EventFactory(TRIGGER)


def make_event() -> Any:
    """An event as a trigger makes it on its hot path."""
    return FACTORY(BODY, content_type="text/plain", headers=dict(HEADERS), method="POST")


def one_off_event() -> Any:
    return new_event(
        BODY, trigger=TRIGGER, content_type="text/plain", headers=HEADERS, method="POST"
    )


async def make_dispatch(handler: Callable[..., Any], is_async: bool) -> Any:
    loaded = LoadedHandler("bench:handler", Path("."), handler, None)
    options = WorkerOptions(TRIGGER)
    worker_cls = AsyncWorker if is_async else ThreadWorker
    stats = EventStats("bench", "http")
    pool = WorkerPool(lambda i: worker_cls(loaded, i, options), 1, wait_timeout=10, stats=stats)
    await pool.start()
    return build_dispatch(pool, Gate(), event_timeout=None, stats=stats), pool


async def per_event(step: Callable[[], Awaitable[Any]], events: int) -> float:
    """µs per call of ``step``, ``events`` calls in a row."""
    start = time.perf_counter()
    for _ in range(events):
        await step()
    return (time.perf_counter() - start) / events * 1e6


async def measure(events: int, rounds: int) -> dict[str, float]:
    event = make_event()
    async_dispatch, async_pool = await make_dispatch(handle_async, True)
    thread_dispatch, thread_pool = await make_dispatch(handle_sync, False)
    context = async_pool.workers[0].context

    async def floor() -> Any:
        return await handle_async(context, event)

    async def build() -> Any:
        return make_event()

    async def build_one_off() -> Any:
        return one_off_event()

    async def convert() -> Any:
        return to_response({"hello": "world"})

    async def full_async() -> Any:
        return await async_dispatch(make_event())

    async def full_thread() -> Any:
        return await thread_dispatch(make_event())

    cases = {
        "handler called directly (floor)": floor,
        "new_event (one-off)": build_one_off,
        "EventFactory": build,
        "to_response(dict)": convert,
        "EventFactory + dispatch, async handler": full_async,
        "EventFactory + dispatch, thread handler": full_thread,
    }
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, step in cases.items():
            samples[name].append(await per_event(step, events))
    await async_pool.close()
    await thread_pool.close()
    return {name: statistics.median(values) for name, values in samples.items()}


async def profile(events: int) -> str:
    dispatch, pool = await make_dispatch(handle_async, True)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(events):
        await dispatch(make_event())
    profiler.disable()
    await pool.close()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(12)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=0, help="ignored (bench smoke test)")
    parser.add_argument("--profile", action="store_true", help="print a profile of dispatch")
    args = parser.parse_args()
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:  # pragma: no cover
        runner = asyncio.Runner()
    with runner:
        results = runner.run(measure(args.events, args.rounds))
        report = runner.run(profile(args.events)) if args.profile else ""
    floor = results["handler called directly (floor)"]
    print(
        f"bench/core: {args.events} events x {args.rounds} rounds (median); in process, uvloop; "
        f"Python {sys.version.split()[0]}; {Path(__file__).parent.name}"
    )
    print()
    print("| step | µs per event | µs over the floor |")
    print("|---|---:|---:|")
    for name, micros in results.items():
        over = "" if name.startswith("handler called") else f"{micros - floor:.1f}"
        print(f"| {name} | {micros:.1f} | {over} |")
    if report:
        print()
        print(report)


if __name__ == "__main__":
    main()
