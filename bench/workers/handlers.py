"""The same work on every kind of worker: a pure-Python loop, 10 ms of waiting, an echo."""

import asyncio
import time


def _spin(iterations: int = 50_000) -> int:
    # A fixed amount of work (2 to 5 ms, by machine), not a wall-clock wait: under contention
    # it takes longer, as real CPU-bound work does.
    total = 0
    for i in range(iterations):
        total += i * i
    return total


def cpu(context, event):
    return str(_spin())


async def cpu_async(context, event):
    return str(_spin())


def io(context, event):
    time.sleep(0.01)
    return "done"


async def io_async(context, event):
    await asyncio.sleep(0.01)
    return "done"


def echo(context, event):
    return event.body


async def echo_async(context, event):
    return event.body
