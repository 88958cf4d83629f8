"""Every error a client can meet: its status (or gRPC code) and its ``{"error"}`` body."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import struct
import time
from collections.abc import Iterator

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from oi_support import FUNCTIONS, Server, function_yaml, oi_trigger, serve
from tritonclient.utils import InferenceServerException

from dh_serverless.testing import free_port


def post(
    server: Server,
    path: str,
    body: bytes,
    headers: dict[str, str] | None = None,
    port: int | None = None,
):
    conn = http.client.HTTPConnection("127.0.0.1", port or server.rest, timeout=10)
    try:
        conn.request("POST", path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()
    finally:
        conn.close()


def get(server: Server, path: str, method: str = "GET"):
    conn = http.client.HTTPConnection("127.0.0.1", server.rest, timeout=10)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def error_of(status: int, content_type: str, body: bytes, expected: int) -> str:
    assert status == expected, body
    assert content_type == "application/json"
    doc = json.loads(body)
    assert list(doc) == ["error"]
    return str(doc["error"])


def infer_json(inputs: list[dict], **extra) -> bytes:
    return json.dumps({"inputs": inputs, **extra}).encode()


FP32 = {"name": "INPUT0", "datatype": "FP32", "shape": [1, 16], "data": list(range(16))}
DECLARED = "/v2/models/declared/infer"


# ---------------------------------------------------------------------------
# 400: the request is wrong
# ---------------------------------------------------------------------------

BAD_REQUESTS = [
    (b"{not json", "malformed JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (infer_json([{**FP32, "datatype": "FP33"}]), "unknown datatype 'FP33'"),
    (infer_json([{**FP32, "shape": [1, -16]}]), "shape must be a list of sizes"),
    (infer_json([{**FP32, "shape": [2, 16]}]), "32 elements"),
    (infer_json([{**FP32, "data": [[1, 2], [3]]}]), "not a regular array"),
    (infer_json([{**FP32, "data": ["a"] * 16}]), "FP32 data must be numbers"),
    (infer_json([{**FP32, "name": "INPUT9"}]), "unknown input 'INPUT9'"),
    (infer_json([{**FP32, "datatype": "FP64"}]), "has datatype FP64; the model expects FP32"),
    (infer_json([{**FP32, "shape": [16, 1], "data": list(range(16))}]), "expects [-1, 16]"),
    (
        infer_json(
            [
                {**FP32, "shape": [1, 16]},
                {"name": "INPUT1", "datatype": "INT64", "shape": [1], "data": [1.5]},
            ]
        ),
        "INT64 data must be integers",
    ),
    (
        infer_json(
            [
                {**FP32, "shape": [1, 16]},
                {"name": "INPUT1", "datatype": "INT64", "shape": [1], "data": [2**70]},
            ]
        ),
        "INPUT1",
    ),
    (infer_json([FP32]), "missing input(s): 'INPUT1'"),
    (
        infer_json(
            [FP32, {"name": "INPUT1", "datatype": "INT64", "shape": [1], "data": [1]}],
            outputs=[{"name": "NOPE"}],
        ),
        "unknown output 'NOPE'",
    ),
    (infer_json([FP32, FP32]), "given twice"),
    (infer_json([{k: v for k, v in FP32.items() if k != "data"}]), "neither data"),
    (json.dumps({"inputs": "x"}).encode(), "inputs must be a list"),
    (json.dumps({"inputs": [], "id": [1]}).encode(), "id must be a string"),
]


@pytest.mark.parametrize(("body", "message"), BAD_REQUESTS)
def test_bad_json_requests_are_400_naming_the_problem(identity_server, body, message):
    server = identity_server
    headers = {"Content-Type": "application/json"}
    status, ctype, answer = post(server, DECLARED, body, headers, server.ports["rest2"])
    assert message in error_of(status, ctype, answer, 400)


def binary_body(header: dict, tail: bytes) -> tuple[bytes, dict[str, str]]:
    head = json.dumps(header).encode()
    return head + tail, {"Inference-Header-Content-Length": str(len(head))}


@pytest.mark.parametrize(
    ("header", "tail", "message"),
    [
        ({"inputs": [{**FP32, "data": None, "parameters": {"binary_data_size": 64}}]}, b"x" * 63,
         "runs past the end"),
        ({"inputs": [{**FP32, "parameters": {"binary_data_size": 8}}]}, b"x" * 8,
         "8 bytes of data do not fit"),
        ({"inputs": [{**FP32, "parameters": {"binary_data_size": 64}}]}, b"x" * 70,
         "6 bytes of binary data"),
        ({"inputs": [{"name": "T", "datatype": "BYTES", "shape": [2],
                      "parameters": {"binary_data_size": 6}}]}, struct.pack("<I", 9) + b"ab",
         "runs past the data"),
        ({"inputs": [{"name": "T", "datatype": "BYTES", "shape": [2],
                      "parameters": {"binary_data_size": 5}}]}, struct.pack("<I", 1) + b"a",
         "1 BYTES elements do not fit"),
        ({"inputs": [{**FP32, "parameters": {"binary_data_size": "64"}}]}, b"x" * 64,
         "binary_data_size must be a size"),
        ({"inputs": [{"name": "B", "datatype": "BF16", "shape": [1], "data": [1.0]}]}, b"",
         "BF16 has no JSON form"),
    ],
)  # fmt: skip
def test_bad_binary_requests_are_400(identity_server, header, tail, message):
    body, headers = binary_body(header, tail)
    status, ctype, answer = post(identity_server, "/v2/models/identity/infer", body, headers)
    assert message in error_of(status, ctype, answer, 400)


def test_header_length_checks(identity_server):
    status, ctype, answer = post(
        identity_server,
        "/v2/models/identity/infer",
        b"{}",
        {"Inference-Header-Content-Length": "9"},
    )
    assert "the body has 2 bytes" in error_of(status, ctype, answer, 400)
    status, ctype, answer = post(
        identity_server,
        "/v2/models/identity/infer",
        b"{}",
        {"Inference-Header-Content-Length": "x"},
    )
    assert "not a number" in error_of(status, ctype, answer, 400)
    body = infer_json([{**FP32, "data": None, "parameters": {"binary_data_size": 64}}])
    status, ctype, answer = post(identity_server, "/v2/models/identity/infer", body)
    assert "no Inference-Header-Content-Length" in error_of(status, ctype, answer, 400)


def test_content_type_never_decides(identity_server):
    x = np.arange(16, dtype=np.float32)
    header = {"inputs": [{**FP32, "parameters": {"binary_data_size": 64}}]}
    header["inputs"][0].pop("data")
    body, headers = binary_body(header, x.tobytes())
    for content_type in (None, "application/json", "application/octet-stream", "text/plain"):
        sent = dict(headers, **({"Content-Type": content_type} if content_type else {}))
        status, _, answer = post(identity_server, "/v2/models/identity/infer", body, sent)
        assert status == 200
        assert json.loads(answer)["outputs"][0]["data"] == x.tolist()
    for content_type in (None, "application/octet-stream"):
        sent = {"Content-Type": content_type} if content_type else {}
        status, _, answer = post(
            identity_server, "/v2/models/identity/infer", infer_json([FP32]), sent
        )
        assert status == 200


# ---------------------------------------------------------------------------
# 404, 405, 413, 501
# ---------------------------------------------------------------------------


def test_unknown_model_or_version_is_404(identity_server):
    for path in ("/v2/models/other/infer", "/v2/models/identity/versions/7/infer"):
        status, ctype, answer = post(identity_server, path, infer_json([FP32]))
        assert "unknown" in error_of(status, ctype, answer, 404)
    status, answer = get(identity_server, "/v2/models/other")
    assert status == 404
    assert "unknown model 'other'" in json.loads(answer)["error"]
    status, answer = get(identity_server, "/v2/models/other/ready")
    assert status == 404
    status, answer = get(identity_server, "/nothing/here")
    assert status == 404
    assert "no such route" in json.loads(answer)["error"]
    client = httpclient.InferenceServerClient(identity_server.url)
    item = httpclient.InferInput("INPUT0", [1], "FP32")
    item.set_data_from_numpy(np.zeros(1, dtype=np.float32))
    with pytest.raises(InferenceServerException) as info:
        client.infer("other", [item])
    assert info.value.status() == "404"
    grpc = grpcclient.InferenceServerClient(identity_server.grpc_url)
    gitem = grpcclient.InferInput("INPUT0", [1], "FP32")
    gitem.set_data_from_numpy(np.zeros(1, dtype=np.float32))
    with pytest.raises(InferenceServerException) as info:
        grpc.infer("other", [gitem])
    assert info.value.status() == "StatusCode.NOT_FOUND"
    assert "unknown model 'other'" in info.value.message()
    with pytest.raises(InferenceServerException) as info:
        grpc.get_model_metadata("other")
    assert info.value.status() == "StatusCode.NOT_FOUND"


def test_wrong_methods_are_405(identity_server):
    status, answer = get(identity_server, "/v2/models/identity/infer")
    assert status == 405
    assert "takes POST" in json.loads(answer)["error"]
    status, _, answer = post(identity_server, "/v2/health/live", b"")
    assert status == 405


def test_unsupported_triton_routes_are_501(identity_server):
    for path in ("/v2/repository/index", "/v2/models/identity/config", "/v2/models/stats"):
        status, answer = get(identity_server, path)
        assert status == 501, path
        assert "not supported" in json.loads(answer)["error"]


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A model that misbehaves on request: one worker, short waits and timeouts."""
    rest, grpc = free_port(), free_port()
    trigger = oi_trigger(
        "strict",
        rest,
        grpc,
        tensors="numpy",
        maxWorkers=1,
        workerAvailabilityTimeoutMilliseconds=200,
        max_request_body_size=1024 * 1024,
        max_message_bytes=1024 * 1024,
    )
    with serve(
        tmp_path_factory.mktemp("strict"),
        function_yaml("oi_handlers:misbehave", {"strict": trigger}, eventTimeout="1s"),
        [FUNCTIONS / "oi_handlers.py"],
        ports={"rest": rest, "grpc": grpc},
    ) as server:
        yield server


def test_body_over_the_limit_is_413(strict_server):
    body = b'{"inputs": []}' + b" " * (1024 * 1024)
    status, ctype, answer = post(strict_server, "/v2/models/strict/infer", body)
    assert "maxRequestBodySize" in error_of(status, ctype, answer, 413)
    grpc = grpcclient.InferenceServerClient(strict_server.grpc_url)
    item = grpcclient.InferInput("INPUT0", [1, 300000], "FP32")
    item.set_data_from_numpy(np.zeros((1, 300000), dtype=np.float32))
    with pytest.raises(InferenceServerException) as info:
        grpc.infer("strict", [item])
    assert info.value.status() == "StatusCode.RESOURCE_EXHAUSTED"


# ---------------------------------------------------------------------------
# The handler fails (500 / INTERNAL), the runtime is busy (503) or too slow (504)
# ---------------------------------------------------------------------------


def strict_inputs(mode: str, **params):
    x = np.ones((1, 2), dtype=np.float32)
    rest = httpclient.InferInput("INPUT0", [1, 2], "FP32")
    rest.set_data_from_numpy(x)
    grpc = grpcclient.InferInput("INPUT0", [1, 2], "FP32")
    grpc.set_data_from_numpy(x)
    return [rest], [grpc], {"mode": mode, **params}


def test_handler_exception_is_500_and_internal_and_the_server_keeps_serving(strict_server):
    rest_in, grpc_in, params = strict_inputs("raise")
    rest = httpclient.InferenceServerClient(strict_server.url)
    with pytest.raises(InferenceServerException) as info:
        rest.infer("strict", rest_in, parameters=params)
    assert info.value.status() == "500"
    assert info.value.message() == "ValueError: boom: the model cannot take this input"
    grpc = grpcclient.InferenceServerClient(strict_server.grpc_url)
    with pytest.raises(InferenceServerException) as info:
        grpc.infer("strict", grpc_in, parameters=params)
    assert info.value.status() == "StatusCode.INTERNAL"
    assert "ValueError: boom" in info.value.message()
    ok_in, ok_grpc, ok_params = strict_inputs("none")
    assert rest.infer("strict", ok_in, parameters=ok_params).as_numpy("OUTPUT0").shape == (1, 2)
    assert grpc.infer("strict", ok_grpc).as_numpy("OUTPUT0").shape == (1, 2)
    assert strict_server.alive()


@pytest.mark.parametrize(
    ("mode", "extra", "status", "code", "message"),
    [
        ("status", {"status": 422}, "422", "StatusCode.UNKNOWN", "the model refuses"),
        ("status", {"status": 503}, "503", "StatusCode.UNAVAILABLE", "the model refuses"),
        ("garbage", {}, "500", "StatusCode.INTERNAL", "TypeError: the handler returned object"),
        ("wrong_shape", {}, "200", None, None),
    ],
)
def test_handler_answers_that_are_errors(strict_server, mode, extra, status, code, message):
    rest_in, grpc_in, params = strict_inputs(mode, **extra)
    rest = httpclient.InferenceServerClient(strict_server.url)
    if code is None:  # undeclared outputs: any shape goes
        assert rest.infer("strict", rest_in, parameters=params).as_numpy("OUTPUT0").shape == (2,)
        return
    with pytest.raises(InferenceServerException) as info:
        rest.infer("strict", rest_in, parameters=params)
    assert info.value.status() == status
    assert message in info.value.message()
    grpc = grpcclient.InferenceServerClient(strict_server.grpc_url)
    with pytest.raises(InferenceServerException) as info:
        grpc.infer("strict", grpc_in, parameters=params)
    assert info.value.status() == code


def test_handler_timeout_is_504_and_deadline_exceeded(strict_server):
    rest_in, grpc_in, params = strict_inputs("sleep", seconds=3)
    rest = httpclient.InferenceServerClient(strict_server.url, network_timeout=30)
    with pytest.raises(InferenceServerException) as info:
        rest.infer("strict", rest_in, parameters=params)
    assert info.value.status() == "504"
    assert "eventTimeout" in info.value.message()
    grpc = grpcclient.InferenceServerClient(strict_server.grpc_url)
    with pytest.raises(InferenceServerException) as info:
        grpc.infer("strict", grpc_in, parameters=params)
    assert info.value.status() == "StatusCode.DEADLINE_EXCEEDED"


def test_busy_pool_is_503_and_resource_exhausted(strict_server):
    slow_rest, slow_grpc, slow = strict_inputs("sleep", seconds=0.8)
    rest = httpclient.InferenceServerClient(strict_server.url, concurrency=2)
    grpc = grpcclient.InferenceServerClient(strict_server.grpc_url)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        first = pool.submit(rest.infer, "strict", slow_rest, parameters=slow)
        time.sleep(0.2)
        rest_in, grpc_in, params = strict_inputs("none")
        with pytest.raises(InferenceServerException) as info:
            rest.infer("strict", rest_in, parameters=params)
        assert info.value.status() == "503"
        assert first.result(timeout=10).as_numpy("OUTPUT0").shape == (1, 2)
        first = pool.submit(grpc.infer, "strict", slow_grpc, parameters=slow)
        time.sleep(0.2)
        with pytest.raises(InferenceServerException) as info:
            grpc.infer("strict", grpc_in)
        assert info.value.status() == "StatusCode.RESOURCE_EXHAUSTED"
        first.result(timeout=10)


def test_a_client_deadline_does_not_kill_the_worker(strict_server):
    _, grpc_in, params = strict_inputs("sleep", seconds=0.6)
    grpc = grpcclient.InferenceServerClient(strict_server.grpc_url)
    with pytest.raises(InferenceServerException) as info:
        grpc.infer("strict", grpc_in, parameters=params, client_timeout=0.2)
    assert info.value.status() == "StatusCode.DEADLINE_EXCEEDED"
    time.sleep(0.8)
    _, ok_in, _ = strict_inputs("none")
    assert grpc.infer("strict", ok_in).as_numpy("OUTPUT0").shape == (1, 2)
    restarts = [
        line
        for line in strict_server.metrics().splitlines()
        if line.startswith("dh_worker_restarts_total") and not line.endswith(" 0.0")
    ]
    assert restarts == []


def test_errors_are_counted_per_model(strict_server):
    text = strict_server.metrics()
    for line in (
        'dh_openinference_requests_total{model="strict",outcome="error",protocol="rest"}',
        'dh_openinference_requests_total{model="strict",outcome="timeout",protocol="grpc"}',
        'dh_openinference_requests_total{model="strict",outcome="busy",protocol="rest"}',
    ):
        value = next(ln for ln in text.splitlines() if ln.startswith(line)).split()[-1]
        assert float(value) >= 1, line
