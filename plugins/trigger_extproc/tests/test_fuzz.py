"""Hypothesis: random ProcessingRequest sequences through the gRPC stub, for every type.

Every stream must end with one valid reply per message (mirroring its kind, or an
``immediate_response`` that ends the stream; none in observability mode) or with a clean
gRPC error, and the server must keep serving.
"""

from __future__ import annotations

import asyncio
import gzip
import threading
from collections.abc import Iterator

import grpc
import pytest
from envoy.config.core.v3 import base_pb2
from envoy.service.ext_proc.v3 import external_processor_pb2 as ep
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as ep_grpc
from google.protobuf import struct_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dh_serverless.hookspecs import (
    Event,
    FunctionInfo,
    Response,
    TriggerSpec,
    WorkerBusyError,
)
from dh_serverless.triggers.extproc import ExtprocAttributes, ExtprocTrigger, ProcessingOptions
from dh_serverless.triggers.extproc import convert_result as convert

KINDS = (
    "request_headers", "request_body", "request_trailers",
    "response_headers", "response_body", "response_trailers",
)  # fmt: skip
TYPES = ("preprocessor", "postprocessor", "observeprocessor", "wrapprocessor")


async def dispatch(event: Event, *, continuation: bool = False) -> Response:
    """A handler with every kind of answer, picked by the body's length."""
    choice = event.size % 7
    if choice == 0:
        return convert(event.body + b"!")
    if choice == 1:
        return convert(None)
    if choice == 2:
        return convert(Response(headers={"x-processing-status": "418", "x": b"\xff"}, body="t"))
    if choice == 3:
        raise WorkerBusyError("busy")
    if choice == 4:
        return Response(body=b"RuntimeError: boom", status_code=500)  # the handler raised
    if choice == 5:
        return convert(Response(headers={"a": None, "b": ["c", "d"]}, body=b""))
    return convert((403, {"denied": True}))


class Servers:
    """One trigger per (type, over-limit policy) on a loop of its own thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.ports: dict[tuple[str, str], int] = {}
        self.triggers: list[ExtprocTrigger] = []
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        assert ready.wait(30)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)

        async def start() -> None:
            for kind in TYPES:
                for policy in ("reject", "passthrough"):
                    options = ProcessingOptions(
                        per_request_body_buffer_bytes=512,
                        body_over_limit=policy,  # type: ignore[arg-type]
                        on_error="reject" if policy == "reject" else "passthrough",
                        observe_queue_size=4,
                    )
                    a = ExtprocAttributes(
                        type=kind,  # type: ignore[arg-type]
                        port=0,
                        host="127.0.0.1",
                        processing_options=options,
                    )
                    t = ExtprocTrigger(
                        TriggerSpec(f"{kind}-{policy}", "extproc", a, FunctionInfo("f"))
                    )
                    await t.start(dispatch)
                    self.triggers.append(t)
                    self.ports[kind, policy] = t.port

        self.loop.run_until_complete(start())
        ready.set()
        self.loop.run_forever()

    def close(self) -> None:
        async def stop() -> None:
            for t in self.triggers:
                await t.stop(0.5)

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    s = Servers()
    try:
        yield s
    finally:
        s.close()


header_names = st.sampled_from(
    [":path", ":method", ":status", ":authority", "content-encoding", "content-type",
     "content-length", "x-request-id", "x-test", "Upper-Case"]
) | st.text(min_size=0, max_size=12)  # fmt: skip
header_values = st.sampled_from([b"gzip", b"deflate", b"/p?q=1&q=2", b"POST", b""]) | st.binary(
    max_size=40
)


@st.composite
def header_maps(draw: st.DrawFn) -> base_pb2.HeaderMap:
    m = base_pb2.HeaderMap()
    for name, value, as_text in draw(
        st.lists(st.tuples(header_names, header_values, st.booleans()), max_size=8)
    ):
        h = m.headers.add()
        h.key = name
        if as_text:
            h.value = value.decode("latin-1")
        else:
            h.raw_value = value
    return m


bodies = st.binary(max_size=700) | st.binary(max_size=300).map(gzip.compress) | st.just(b"")


@st.composite
def messages(draw: st.DrawFn, observe: bool) -> ep.ProcessingRequest:
    kind = draw(st.sampled_from((*KINDS, None)))
    req = ep.ProcessingRequest(observability_mode=observe)
    if kind in ("request_headers", "response_headers"):
        sub = getattr(req, kind)
        sub.headers.CopyFrom(draw(header_maps()))
        sub.end_of_stream = draw(st.booleans())
    elif kind in ("request_body", "response_body"):
        sub = getattr(req, kind)
        sub.body = draw(bodies)
        sub.end_of_stream = draw(st.booleans())
    elif kind is not None:
        getattr(req, kind).trailers.CopyFrom(draw(header_maps()))
    if draw(st.booleans()):
        s = struct_pb2.Struct()
        s.update({"request.path": draw(st.text(max_size=20)), "request.method": "GET"})
        req.attributes["envoy.filters.http.ext_proc"].CopyFrom(s)
    if draw(st.booleans()):
        req.protocol_config.request_body_mode = draw(st.integers(0, 5))
        req.protocol_config.response_body_mode = draw(st.integers(0, 5))
    return req


@st.composite
def streams(draw: st.DrawFn) -> tuple[str, str, list[ep.ProcessingRequest]]:
    kind = draw(st.sampled_from(TYPES))
    policy = draw(st.sampled_from(("reject", "passthrough")))
    observe = kind == "observeprocessor" and draw(st.booleans())
    return kind, policy, draw(st.lists(messages(observe), min_size=1, max_size=8))


def check_stream(port: int, sent: list[ep.ProcessingRequest]) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = ep_grpc.ExternalProcessorStub(channel)
        replies = []
        error = None
        try:
            for reply in stub.Process(iter(sent), timeout=10):
                replies.append(reply)
        except grpc.RpcError as exc:
            error = exc
        if error is not None:
            # Only a request without a kind is refused, with a clear status.
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
            assert any(m.WhichOneof("request") is None for m in sent)
        for index, reply in enumerate(replies):
            message = sent[index]
            assert not message.observability_mode
            got = reply.WhichOneof("response")
            if got == "immediate_response":
                assert index == len(replies) - 1  # nothing after an immediate answer
                assert 200 <= reply.immediate_response.status.code <= 599
            else:
                assert got == message.WhichOneof("request")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=streams())
def test_random_message_sequences(servers, stream):
    kind, policy, sent = stream
    check_stream(servers.ports[kind, policy], sent)


def test_garbage_bytes_get_a_grpc_error_and_the_server_goes_on(servers):
    port = servers.ports["wrapprocessor", "reject"]
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        raw = channel.stream_stream(
            "/envoy.service.ext_proc.v3.ExternalProcessor/Process",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )
        with pytest.raises(grpc.RpcError) as info:
            list(raw(iter([b"\xff\xff\xff\x0f garbage"]), timeout=10))
        assert info.value.code() != grpc.StatusCode.OK
    ok = ep.ProcessingRequest()
    ok.request_headers.end_of_stream = True
    check_stream(port, [ok])


def test_an_error_answered_at_once_ends_the_stream(servers):
    # Found by the test above: a busy pool with onError: reject answers 503 at once, and
    # nothing may follow on that stream.
    first = ep.ProcessingRequest()
    first.request_headers.end_of_stream = False
    body = ep.ProcessingRequest()
    body.request_body.body = b"\0\0\0"  # three bytes: the dispatch above raises busy
    body.request_body.end_of_stream = True
    more = ep.ProcessingRequest()
    more.request_headers.end_of_stream = True
    port = servers.ports["preprocessor", "reject"]
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        replies = list(ep_grpc.ExternalProcessorStub(channel).Process(iter([first, body, more])))
    assert [r.WhichOneof("response") for r in replies] == ["request_headers", "immediate_response"]
    assert replies[1].immediate_response.status.code == 503


def test_no_message_hit_an_internal_error(servers):
    # Runs after the tests above (file order): a message the trigger could not process is
    # counted "invalid" under its phase ("unknown" is the refused kind-less request).
    for trigger in servers.triggers:
        family = trigger.spec.metrics.families["dh_extproc_messages"]
        invalid = {
            k: c.value
            for k, c in family.cells.items()
            if k[-1] == "invalid" and k[-2] != "unknown" and c.value
        }
        assert invalid == {}, trigger.name
