"""StreamDispatch: a stream event's outcome counted, failures logged throttled."""

from __future__ import annotations

import logging

from dh_serverless.core.api import StreamDispatch
from dh_serverless.hookspecs import Response, ShuttingDownError, WorkerBusyError
from dh_serverless.hookspecs.metrics import CounterCell
from dh_serverless.testing import make_event


def stream_of(answer, caplog) -> tuple[StreamDispatch, CounterCell, CounterCell]:
    processed, failed = CounterCell(), CounterCell()

    async def dispatch(event):
        return answer(event)

    caplog.set_level(logging.DEBUG, logger="test.stream")
    stream = StreamDispatch(
        dispatch, processed=processed, failed=failed,
        logger=logging.getLogger("test.stream"), name=lambda e: f"frame {e.fields['n']}",
    )  # fmt: skip
    return stream, processed, failed


async def test_answers_below_400_count_as_processed(caplog):
    stream, processed, failed = stream_of(lambda e: Response(body=b"ok"), caplog)
    await stream(make_event(fields={"n": 1}))
    assert (processed.value, failed.value) == (1, 0)
    assert caplog.records == []


async def test_failures_are_counted_and_one_in_a_hundred_is_a_warning(caplog):
    def answer(event):
        if event.fields["n"] % 2:
            raise WorkerBusyError("all workers are busy")
        return Response(body=b"broken handler", status_code=500)

    stream, processed, failed = stream_of(answer, caplog)
    for n in range(1, 202):
        await stream(make_event(fields={"n": n}))
    assert (processed.value, failed.value) == (0, 201)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "frame 1 failed: WorkerBusyError: all workers are busy",
        "frame 101 failed: WorkerBusyError: all workers are busy",
        "frame 201 failed: WorkerBusyError: all workers are busy",
    ]
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert debug[0] == "frame 2 failed: status 500: broken handler"


async def test_a_draining_runtime_is_counted_without_a_line(caplog):
    def answer(event):
        raise ShuttingDownError("the function is shutting down")

    stream, processed, failed = stream_of(answer, caplog)
    await stream(make_event(fields={"n": 1}))
    assert (processed.value, failed.value) == (0, 1)
    assert caplog.records == []
