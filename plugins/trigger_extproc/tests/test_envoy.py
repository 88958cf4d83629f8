"""Against a real Envoy: mutations, immediate answers, bodies, errors, per processor type."""

from __future__ import annotations

import gzip
import json
import zlib

import pytest
from prometheus_client.parser import text_string_to_metric_families


@pytest.fixture(scope="module")
def wrap(stack):
    processor = stack.processor(
        "wrapprocessor",
        attributes="        processingOptions: {perRequestBodyBufferBytes: 65536}\n",
    )
    envoy = stack.envoy("wrapprocessor", [processor.port])
    return envoy, processor


@pytest.fixture(scope="module")
def pre(stack):
    processor = stack.processor("preprocessor")
    return stack.envoy("preprocessor", [processor.port]), processor


@pytest.fixture(scope="module")
def post(stack):
    processor = stack.processor("postprocessor")
    return stack.envoy("postprocessor", [processor.port]), processor


def echo(reply):
    assert reply.status == 200, reply
    return json.loads(reply.body)


def calls_for(processor, marker):
    return [c for c in processor.calls() if c["headers"].get("x-mark") == marker]


def test_header_mutations_reach_the_upstream_and_the_client(wrap):
    envoy, _ = wrap
    reply = envoy.request(
        "GET",
        "/h",
        headers={"x-test": "headers", "x-remove-me": "1", "x-tag": "one"},
    )
    seen = echo(reply)["Headers"]
    assert seen["x-added"] == "yes"  # G2: written as raw_value, so not empty
    assert "x-remove-me" not in seen
    assert seen["x-tag"] == "one,two"  # G3: appended with the append flag
    assert reply.headers["x-resp-added"] == "yes"


def test_handler_sees_bytes_headers_phase_method_path_and_fields(wrap):
    envoy, processor = wrap
    envoy.request("POST", "/p/q?x=1&x=2&y=", body=b"abc", headers={"x-mark": "see",
                  "content-type": "text/plain", "x-request-id": "rid-1"})  # fmt: skip
    calls = calls_for(processor, "see")
    assert [c["phase"] for c in calls] == [2]  # the response call has response headers
    call = calls[0]
    assert call["method"] == "POST"
    assert call["path"] == "/p/q"
    assert call["body"] == "abc"
    assert call["content_type"] == "text/plain"
    assert call["headers"]["processing-phase"] == "2"
    assert call["id"] == "rid-1"
    assert call["trigger"] == "extproc"


@pytest.mark.parametrize(("phase", "status"), [(1, 200), (1, 403), (2, 200), (2, 429), (5, 502)])
def test_wrap_immediate_answers_with_x_processing_status(wrap, stack, phase, status):
    envoy, _ = wrap
    before = stack.upstream.count()
    body = None if phase == 1 else b"data"
    reply = envoy.request(
        "POST" if body else "GET",
        "/i",
        body=body,
        headers={"x-test": f"immediate:{phase}:{status}:wrap"},
    )
    assert reply.status == status, reply
    assert reply.body == f"answered at {phase}".encode()
    assert reply.headers["x-by"] == "function"
    assert "x-processing-status" not in reply.headers
    if phase < 4:
        assert stack.upstream.count() == before + 1 - 1  # the upstream was never called


@pytest.mark.parametrize(("phase", "status"), [(1, 403), (2, 403), (2, 429), (5, 502)])
def test_wrap_answers_at_once_for_a_status_other_than_200(wrap, stack, phase, status):
    # A guardrail returning Response(status_code=403) blocks the request, as the original.
    envoy, _ = wrap
    before = stack.upstream.count()
    body = None if phase == 1 else b"data"
    reply = envoy.request(
        "POST" if body else "GET", "/i", body=body,
        headers={"x-test": f"immediate:{phase}:{status}"},
    )  # fmt: skip
    assert reply.status == status, reply
    assert reply.body == f"answered at {phase}".encode()
    assert reply.headers["x-by"] == "function"
    if phase < 4:
        assert stack.upstream.count() == before  # the upstream was never called


def test_wrap_status_200_without_the_header_goes_on(wrap):
    envoy, _ = wrap
    reply = envoy.request("POST", "/i", body=b"data", headers={"x-test": "immediate:2:200"})
    # 200 continues: the returned body replaced the request body on its way upstream
    assert echo(reply)["Body"] == "answered at 2"


@pytest.mark.parametrize(("phase", "status"), [(1, 200), (1, 401), (2, 200), (2, 400)])
def test_preprocessor_immediate_answers(pre, stack, phase, status):
    envoy, _ = pre
    before = stack.upstream.count()
    body = None if phase == 1 else b"data"
    wrap_header = ":wrap" if status == 200 else ""  # an immediate 200 needs the header
    reply = envoy.request(
        "POST" if body else "GET", "/i", body=body,
        headers={"x-test": f"immediate:{phase}:{status}{wrap_header}"},
    )  # fmt: skip
    assert reply.status == status, reply
    assert reply.body == f"answered at {phase}".encode()
    assert stack.upstream.count() == before


def test_postprocessor_immediate_at_phase_5_replaces_the_upstream_answer(post):
    envoy, processor = post
    reply = envoy.request("GET", "/i", headers={"x-test": "immediate:5:503"})
    assert reply.status == 503
    assert reply.body == b"answered at 5"
    call = processor.calls()[-1]
    assert call["phase"] == 5
    assert (call["method"], call["path"]) == ("GET", "/i")  # from response_attributes


def test_postprocessor_replaces_the_response_body_and_fixes_content_length(post):
    envoy, _ = post
    reply = envoy.request("POST", "/u", body=b"abc", headers={"x-test": "upper"})
    assert reply.status == 200
    data = json.loads(reply.body.lower())
    assert data["body"] == "abc"
    assert int(reply.headers["content-length"]) == len(reply.body)  # G1 on the response side


def test_chunked_request_body(wrap):
    envoy, processor = wrap
    reply = envoy.request("POST", "/c", body=[b"one-", b"two-", b"three"],
                          headers={"x-test": "upper", "x-mark": "chunked"})  # fmt: skip
    assert echo(reply)["BODY"] == "ONE-TWO-THREE"
    assert [c["body"] for c in calls_for(processor, "chunked")] == ["one-two-three"]


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress)],
)
def test_compressed_request_body_is_decompressed_and_replaced_plain(wrap, encoding, compress):
    envoy, processor = wrap
    reply = envoy.request(
        "POST", "/z", body=compress(b"squeezed"),
        headers={"x-test": "upper", "content-encoding": encoding, "x-mark": encoding},
    )  # fmt: skip
    seen = json.loads(reply.body)
    assert seen["BODY"] == "SQUEEZED"  # G8: the upstream got the plain new body
    assert "CONTENT-ENCODING" not in seen["HEADERS"]
    assert seen["HEADERS"]["CONTENT-LENGTH"] == "8"
    assert calls_for(processor, encoding)[0]["body"] == "squeezed"


def test_compressed_response_body(wrap):
    envoy, _ = wrap
    reply = envoy.request("GET", "/gzip", headers={"x-test": "upper"})
    assert reply.status == 200
    assert "content-encoding" not in reply.headers
    assert json.loads(reply.body)["PATH"] == "/GZIP"


def test_body_over_the_limit_is_answered_413(wrap):
    envoy, processor = wrap
    reply = envoy.request("POST", "/big", body=b"x" * 70000, headers={"x-mark": "big"})
    assert reply.status == 413
    assert calls_for(processor, "big") == []


def test_gzip_bomb_over_the_limit_is_answered_413(wrap):
    envoy, _ = wrap
    bomb = gzip.compress(b"\0" * 2_000_000)
    reply = envoy.request("POST", "/bomb", body=bomb, headers={"content-encoding": "gzip"})
    assert reply.status == 413


def test_handler_exception_passes_the_original_intact(wrap):
    envoy, _ = wrap
    reply = envoy.request("POST", "/e", body=b"original", headers={"x-test": "raise"})
    assert echo(reply)["Body"] == "original"


def test_metrics_count_phases_and_outcomes(wrap):
    envoy, processor = wrap
    envoy.request("GET", "/m")
    envoy.request("GET", "/m", headers={"x-test": "raise"})
    samples = {}
    for family in text_string_to_metric_families(processor.metrics()):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value

    def value(name, **labels):
        labels = {"trigger": "ext", "type": "wrapprocessor", **labels}
        return samples.get((name, tuple(sorted(labels.items()))), 0)

    assert value("dh_extproc_messages_total", phase="request_headers", outcome="continue") >= 1
    assert value("dh_extproc_messages_total", phase="request_headers", outcome="error") >= 1
    assert value("dh_extproc_handler_seconds_count", phase="request_headers") >= 2
    assert value("dh_extproc_message_seconds_count", phase="response_body") >= 2
    assert value("dh_extproc_streams_total") >= 2
