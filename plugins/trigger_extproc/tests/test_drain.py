"""While the runtime drains, a stream never slips through unprocessed."""

from __future__ import annotations

import grpc
import pytest
from envoy.service.ext_proc.v3 import external_processor_pb2 as ep
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as ep_grpc

from dh_serverless.hookspecs import FunctionInfo, ShuttingDownError, TriggerSpec
from dh_serverless.triggers.extproc import ExtprocAttributes, ExtprocTrigger, convert_result


def headers_message(eos: bool) -> ep.ProcessingRequest:
    request = ep.ProcessingRequest()
    request.request_headers.end_of_stream = eos
    return request


def body_message() -> ep.ProcessingRequest:
    request = ep.ProcessingRequest()
    request.response_body.body = b"upstream"
    request.response_body.end_of_stream = True
    return request


@pytest.fixture
async def draining():
    """A wrapprocessor whose runtime starts draining after ``calls_left`` handler calls."""
    state = {"calls_left": 0}

    async def dispatch(event, *, continuation=False):  # the core's gate: a continuation passes
        if state["calls_left"] <= 0 and not continuation:
            raise ShuttingDownError("the function is shutting down")
        state["calls_left"] -= 1
        return convert_result(event.body + b"!")

    attributes = ExtprocAttributes(type="wrapprocessor", port=0, host="127.0.0.1")
    trigger = ExtprocTrigger(TriggerSpec("ext", "extproc", attributes, FunctionInfo("f")))
    await trigger.start(dispatch)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{trigger.port}") as channel:
        yield ep_grpc.ExternalProcessorStub(channel), state
    await trigger.stop(1.0)


async def test_a_stream_that_meets_the_drain_first_is_left_to_envoys_failure_policy(draining):
    stub, _ = draining
    call = stub.Process()
    await call.write(headers_message(eos=True))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call.read()
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_stream_in_flight_finishes_through_the_handler(draining):
    stub, state = draining
    state["calls_left"] = 1
    call = stub.Process()
    await call.write(headers_message(eos=True))
    first = await call.read()
    assert first.WhichOneof("response") == "request_headers"
    await call.write(body_message())  # the drain began meanwhile
    second = await call.read()
    assert second.WhichOneof("response") == "response_body"
    mutation = second.response_body.response.body_mutation
    assert mutation.body == b"upstream!"  # its later phase still ran the handler
    await call.done_writing()
