"""What an attack on the trigger found (issue 22), each answered with a clear error while
the server keeps serving: huge list bodies, out-of-range floats, absurd shapes, deep
parameters, long echoed names, odd ``Inference-Header-Content-Length`` values,
undecodable gRPC messages, and more bytes in flight than the budget."""

from __future__ import annotations

import http.client
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from oi_support import Server, function_yaml, oi_trigger, serve

from dh_serverless.testing import free_port
from dh_serverless.triggers.openinference._generated import dh_openinference_pb2 as pb

HANDLER = """
def count(context, event):
    body = event.body
    sizes = [len(i["data"]) for i in body["inputs"]]
    shape = [len(sizes)]
    return {"outputs": [{"name": "SIZES", "datatype": "INT64", "shape": shape, "data": sizes}]}
"""
INFER = "/v2/models/lists/infer"
BUDGET = 1_000_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``lists`` (tensors: lists, default bounds) and ``small`` (a 1 MB byte budget)."""
    folder = tmp_path_factory.mktemp("attack")
    handler = folder / "attack_handlers.py"
    handler.write_text(HANDLER)
    rest, grpc_port, rest2 = free_port(), free_port(), free_port()
    config = function_yaml(
        "attack_handlers:count",
        {
            "lists": oi_trigger("lists", rest, grpc_port, maxWorkers=2),
            "small": oi_trigger("small", rest2, None, max_bytes_in_flight=BUDGET),
        },
    )
    with serve(
        folder / "run", config, [handler], ports={"rest": rest, "grpc": grpc_port, "rest2": rest2}
    ) as running:
        yield running


def post(port: int, path: str, body: bytes, headers: dict[str, str] | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def error(status: int, body: bytes, expected: int) -> str:
    assert status == expected, body[:300]
    message = json.loads(body)["error"]
    assert isinstance(message, str)
    return message


def binary_head(size: int) -> bytes:
    """The JSON header of a request with one UINT8 input of ``size`` bytes sent binary."""
    tensor = {"name": "X", "datatype": "UINT8", "shape": [size]}
    return json.dumps({"inputs": [{**tensor, "parameters": {"binary_data_size": size}}]}).encode()


def infer_json(inputs: list[dict], **extra) -> bytes:
    return json.dumps({"inputs": inputs, **extra}).encode()


def still_serves(server: Server) -> None:
    body = infer_json([{"name": "X", "datatype": "INT32", "shape": [3], "data": [1, 2, 3]}])
    status, answer = post(server.rest, INFER, body)
    assert status == 200, answer
    assert json.loads(answer)["outputs"][0]["data"] == [3]
    assert server.alive()


def grpc_call(server: Server, request: bytes | pb.ModelInferRequest, method: str = "ModelInfer"):
    """Call ``method`` with ``request`` (a message, or raw bytes sent as they are)."""
    with grpc.insecure_channel(
        server.grpc_url, options=[("grpc.max_send_message_length", 512 * 1024 * 1024)]
    ) as channel:
        call = channel.unary_unary(
            f"/inference.GRPCInferenceService/{method}",
            request_serializer=lambda m: m if isinstance(m, bytes) else m.SerializeToString(),
            response_deserializer=pb.ModelInferResponse.FromString,
        )
        try:
            return call(request, timeout=60), None
        except grpc.RpcError as exc:
            return None, exc


# ---------------------------------------------------------------------------
# A request whose list form would be huge: 413 / RESOURCE_EXHAUSTED, no crash
# ---------------------------------------------------------------------------

ELEMENTS = 17 * 1024 * 1024  # just over the default maxListElements (16 Mi)


def test_a_large_binary_request_in_lists_mode_is_413_not_a_crash(server):
    head = binary_head(ELEMENTS)
    status, answer = post(
        server.rest,
        INFER,
        head + bytes(ELEMENTS),
        {"Inference-Header-Content-Length": str(len(head))},
    )
    assert "maxListElements" in error(status, answer, 413)
    still_serves(server)


def test_a_large_raw_grpc_request_in_lists_mode_is_resource_exhausted(server):
    tensor = pb.ModelInferRequest.InferInputTensor(name="X", datatype="UINT8", shape=[ELEMENTS])
    request = pb.ModelInferRequest(
        model_name="lists", inputs=[tensor], raw_input_contents=[bytes(ELEMENTS)]
    )
    _, exc = grpc_call(server, request)
    assert exc is not None
    assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "maxListElements" in exc.details()
    still_serves(server)


# ---------------------------------------------------------------------------
# 400 / INVALID_ARGUMENT, with short messages
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("datatype", "value"), [("FP32", 1e300), ("FP16", 1e10), ("FP32", -1e39)])
def test_out_of_range_floats_are_400(server, datatype, value):
    body = infer_json([{"name": "X", "datatype": datatype, "shape": [2], "data": [1.0, value]}])
    status, answer = post(server.rest, INFER, body)
    assert f"out of the range of {datatype}" in error(status, answer, 400)


SHAPES = [[2**63 - 1, 0], [10**12, 10**12, 0], [1] * 65, [0] * 65]


@pytest.mark.parametrize("shape", SHAPES, ids=["2^63x0", "1e12x1e12x0", "65-dims", "65-zeros"])
def test_absurd_shapes_are_400_on_rest(server, shape):
    count = 1 if 0 not in shape else 0
    body = infer_json([{"name": "X", "datatype": "INT32", "shape": shape, "data": [1] * count}])
    status, answer = post(server.rest, INFER, body)
    message = error(status, answer, 400)
    assert "internal" not in message
    assert len(message) < 1100


@pytest.mark.parametrize("shape", SHAPES, ids=["2^63x0", "1e12x1e12x0", "65-dims", "65-zeros"])
def test_absurd_shapes_are_invalid_argument_on_grpc(server, shape):
    count = 1 if 0 not in shape else 0
    tensor = pb.ModelInferRequest.InferInputTensor(name="X", datatype="INT32", shape=shape)
    request = pb.ModelInferRequest(
        model_name="lists", inputs=[tensor], raw_input_contents=[b"\0\0\0\0" * count]
    )
    _, exc = grpc_call(server, request)
    assert exc is not None
    assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT, exc.details()


@pytest.mark.parametrize("depth", [40, 300, 1000])
def test_deeply_nested_parameters_are_400(server, depth):
    nested = '{"a":' * depth + "1" + "}" * depth
    tensor = '{"name": "X", "datatype": "INT32", "shape": [1], "data": [1]'
    for body in (
        '{"parameters": {"p": ' + nested + '}, "inputs": [' + tensor + "}]}",
        '{"inputs": [' + tensor + ', "parameters": {"p": ' + nested + "}}]}",
    ):
        status, answer = post(server.rest, INFER, body.encode())
        message = error(status, answer, 400)
        assert "nest deeper" in message or "malformed JSON" in message  # orjson stops at 1024
    still_serves(server)


def test_a_long_unknown_model_name_is_not_echoed_in_full(server):
    name = "m" * 10_000
    status, answer = post(server.rest, f"/v2/models/{name[:7000]}/infer", b"{}")
    assert len(error(status, answer, 404)) < 1100
    request = pb.ModelInferRequest(model_name=name)
    _, exc = grpc_call(server, request)
    assert exc is not None
    assert exc.code() == grpc.StatusCode.NOT_FOUND  # not RESOURCE_EXHAUSTED on the client
    assert len(exc.details()) < 1100


def test_a_long_input_name_is_not_echoed_in_full(server):
    body = infer_json([{"name": "n" * 100_000, "datatype": "FP99", "shape": [1], "data": [1]}])
    status, answer = post(server.rest, INFER, body)
    assert len(error(status, answer, 400)) < 1100


@pytest.mark.parametrize("value", [b"+20", b"2_0", b"2 0", "\u0662\u0660".encode(), b"-0", b"0x14"])
def test_inference_header_content_length_takes_ascii_digits_only(server, value):
    head = infer_json([{"name": "X", "datatype": "INT32", "shape": [1], "data": [1]}])
    assert len(head) > 20
    request = (
        b"POST " + INFER.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Inference-Header-Content-Length: " + value + b"\r\n"
        b"Content-Length: %d\r\n\r\n" % len(head) + head
    )
    with socket.create_connection(("127.0.0.1", server.rest), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b"Inference-Header-Content-Length" in answer


@pytest.mark.parametrize(
    "payload", [b"\xff\xff\xff\xff", b"\x0a\xff\xff\xff\xff\x0f", b"\x12\x05abc"]
)
def test_undecodable_grpc_messages_are_invalid_argument(server, payload):
    _, exc = grpc_call(server, payload)
    assert exc is not None
    assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid protobuf message" in exc.details()
    assert "class" not in exc.details()


# ---------------------------------------------------------------------------
# Bytes in flight: a budget across requests (503 beyond it)
# ---------------------------------------------------------------------------


def test_requests_beyond_the_byte_budget_get_503_until_it_frees(server):
    port = server.ports["rest2"]
    size = int(BUDGET * 0.8)
    head = binary_head(size)
    headers = (
        b"POST /v2/models/small/infer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Inference-Header-Content-Length: %d\r\nContent-Length: %d\r\n\r\n"
        % (len(head), len(head) + size)
    )
    slow = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        slow.sendall(headers + head + bytes(size // 2))  # half the body, then it waits
        time.sleep(0.5)
        status, answer = post(
            port, "/v2/models/small/infer", head + bytes(size),
            {"Inference-Header-Content-Length": str(len(head))},
        )  # fmt: skip
        assert "maxBytesInFlight" in error(status, answer, 503)
        slow.sendall(bytes(size - size // 2))
        answer = b""
        while chunk := slow.recv(65536):
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    finally:
        slow.close()
    status, answer = post(
        port, "/v2/models/small/infer", head + bytes(size),
        {"Inference-Header-Content-Length": str(len(head))},
    )  # fmt: skip
    assert status == 200, answer[:300]


def test_concurrent_uploads_within_the_budget_all_succeed(server):
    port = server.ports["rest2"]
    results: list[int] = []
    data = np.arange(1000, dtype=np.int32)
    body = infer_json([{"name": "X", "datatype": "INT32", "shape": [1000], "data": data.tolist()}])

    def send() -> None:
        results.append(post(port, "/v2/models/small/infer", body)[0])

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [200] * 8
    assert struct  # keep the import used by the header test helpers
    assert Path
