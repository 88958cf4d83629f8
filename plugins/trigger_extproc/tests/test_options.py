"""processingOptions against a real Envoy: headers added, error policy, limits, chunks, logs."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def tuned(stack):
    processor = stack.processor(
        "wrapprocessor",
        attributes=(
            "        processingOptions:\n"
            "          updateExtProcHeader: true\n"
            "          updateDurationHeader: true\n"
            "          logPhases: true\n"
            "          logStream: true\n"
            "          requestIdHeaderName: x-my-id\n"
            "          requestIdFallback: none-given\n"
            "          onError: reject\n"
            "          bodyOverLimit: passthrough\n"
            "          perRequestBodyBufferBytes: 1000\n"
        ),
    )
    return stack.envoy("wrapprocessor", [processor.port]), processor


@pytest.fixture(scope="module")
def per_chunk(stack):
    processor = stack.processor(
        "preprocessor", attributes="        processingOptions: {bufferStreamedBodies: false}\n"
    )
    envoy = stack.envoy("preprocessor", [processor.port], modes={"request_body_mode": "STREAMED"})
    return envoy, processor


def test_extproc_and_duration_headers_reach_the_client(tuned):
    envoy, _ = tuned
    reply = envoy.request("POST", "/x", body=b"b")
    assert reply.status == 200
    assert reply.headers["x-extproc-names"] == "wrapprocessor"
    assert int(reply.headers["x-extproc-duration-ns"]) > 0


def test_request_id_header_and_fallback(tuned):
    envoy, processor = tuned
    envoy.request("GET", "/id", headers={"x-my-id": "abc", "x-mark": "with"})
    envoy.request("GET", "/id", headers={"x-mark": "without"})
    ids = {c["headers"]["x-mark"]: c["id"] for c in processor.calls() if c["phase"] == 1}
    assert ids == {"with": "abc", "without": "none-given"}


def test_on_error_reject_answers_500_without_the_traceback(tuned, stack):
    envoy, _ = tuned
    before = stack.upstream.count()
    reply = envoy.request("POST", "/e", body=b"b", headers={"x-test": "raise"})
    assert reply.status == 500
    assert b"Traceback" not in reply.body
    assert stack.upstream.count() == before


def test_body_over_limit_passthrough_skips_the_handler(tuned):
    envoy, processor = tuned
    body = b"y" * 5000
    reply = envoy.request("POST", "/big", body=body, headers={"x-test": "upper", "x-mark": "big"})
    assert reply.status == 200
    assert json.loads(reply.body)["Body"] == body.decode()  # unchanged, not upper-cased
    assert [c for c in processor.calls() if c["headers"].get("x-mark") == "big"] == []


def test_log_phases_and_stream_lines(tuned):
    envoy, processor = tuned
    envoy.request("GET", "/logged")
    text = processor.output.read_text()
    assert "phase 1 (request_headers)" in text
    assert "stream started" in text
    assert "stream ended" in text


def test_without_buffering_the_handler_gets_each_chunk(per_chunk):
    envoy, processor = per_chunk
    reply = envoy.request("POST", "/c", body=[b"ab", b"cd"], headers={"x-test": "upper"})
    assert json.loads(reply.body)["Body"] == "ABCD"
    bodies = [c["body"] for c in processor.calls()]
    assert "abcd" not in bodies
    assert "".join(bodies) == "abcd"


BUSY = """\
apiVersion: "nuclio.io/v1"
kind: NuclioFunction
metadata: {{name: busy}}
spec:
  handler: steer:handler
  eventTimeout: 300ms
  workerKind: {worker_kind}
  triggers:
    ext:
      kind: extproc
      maxWorkers: 1
      workerAvailabilityTimeoutMilliseconds: 100
      attributes:
        type: preprocessor
        host: 127.0.0.1
        port: {port}
        processingOptions: {{onError: {policy}}}
"""


@pytest.mark.parametrize("policy", ["reject", "passthrough"])
def test_timeout_and_busy_pool_follow_on_error(fresh_stack, harness, tmp_path, policy):
    from concurrent.futures import ThreadPoolExecutor

    with fresh_stack() as s:
        port = harness.free_port()
        text = BUSY.format(port=port, policy=policy, worker_kind="auto")
        processor = harness.Processor(s.folder, "preprocessor", port=port, yaml_text=text)
        s.started.append(processor)
        envoy = s.envoy("preprocessor", [port])
        slow = {"x-test": f"slow:{tmp_path / 'started'}:2"}
        timed_out = envoy.request("POST", "/t", body=b"orig", headers=slow)
        with ThreadPoolExecutor(4) as pool:
            replies = list(
                pool.map(
                    lambda _: envoy.request("POST", "/b", body=b"orig", headers=slow), range(4)
                )
            )
        statuses = sorted(r.status for r in replies)
        if policy == "reject":
            assert timed_out.status == 504
            assert 503 in statuses
        else:
            assert json.loads(timed_out.body)["Body"] == "orig"  # passed on intact
            assert statuses == [200] * 4
            assert all(json.loads(r.body)["Body"] == "orig" for r in replies)
        metrics = processor.metrics()
        assert 'outcome="timeout"' in metrics
        assert 'outcome="busy"' in metrics


def test_process_workers_use_the_result_converter(fresh_stack, harness):
    with fresh_stack() as s:
        port = harness.free_port()
        text = (
            BUSY.format(port=port, policy="passthrough", worker_kind="process")
            .replace("maxWorkers: 1", "maxWorkers: 2")
            .replace("eventTimeout: 300ms", "eventTimeout: 10s")
        )
        processor = harness.Processor(s.folder, "preprocessor", port=port, yaml_text=text)
        s.started.append(processor)
        envoy = s.envoy("preprocessor", [port])
        reply = envoy.request("POST", "/p", body=b"in a process", headers={"x-test": "upper"})
        assert json.loads(reply.body)["Body"] == "IN A PROCESS"
        immediate = envoy.request("GET", "/p", headers={"x-test": "immediate:1:418"})
        assert immediate.status == 418
