"""What a handler may return, as the trigger's ``result_converter`` reads it, and what
crosses a process boundary (pickle protocol 5 with out-of-band buffers, as the core does)."""

from __future__ import annotations

import json
import pickle

import ml_dtypes
import numpy as np
import pytest

from dh_serverless.hookspecs import Response
from dh_serverless.triggers.openinference import InferenceRequest, InferenceResult, to_result
from dh_serverless.triggers.openinference.bodies import RequestBody

X = np.arange(6, dtype=np.float32).reshape(2, 3)


def outputs(result) -> list[tuple]:
    response = to_result(result)
    assert response.status_code < 400, response.body
    body = response.value
    assert isinstance(body, InferenceResult)
    return [(t.name, t.datatype, t.array.shape, t.array.tolist()) for t in body.outputs]


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (X, [(None, "FP32", (2, 3), X.tolist())]),
        ([X, X[0]], [(None, "FP32", (2, 3), X.tolist()), (None, "FP32", (3,), X[0].tolist())]),
        ({"OUT": X, "n": 3}, [("OUT", "FP32", (2, 3), X.tolist()), ("n", "INT64", (), 3)]),
        (
            {
                "outputs": [
                    {"name": "o", "datatype": "INT8", "shape": [2, 2], "data": [[1, 2], [3, 4]]}
                ]
            },
            [("o", "INT8", (2, 2), [[1, 2], [3, 4]])],
        ),
        (
            {
                "outputs": [
                    {"name": "o", "datatype": "BYTES", "shape": [2], "data": ["\u00e9", b"\xff"]}
                ]
            },
            [("o", "BYTES", (2,), ["\u00e9".encode(), b"\xff"])],
        ),
        (
            json.dumps({"outputs": [{"name": "o", "datatype": "BOOL", "data": [True, False]}]}),
            [("o", "BOOL", (2,), [True, False])],
        ),
        (Response(body={"y": X.astype(">f4")}), [("y", "FP32", (2, 3), X.tolist())]),
        ((201, {"z": X.T}), [("z", "FP32", (3, 2), X.T.tolist())]),
        ({"s": np.array(["a", "bc"])}, [("s", "BYTES", (2,), ["a", "bc"])]),
    ],
)
def test_every_result_form(result, expected):
    if expected == "error":
        with pytest.raises(ValueError, match="not a regular array"):
            to_result(result)
        return
    assert outputs(result) == expected


def test_the_status_of_a_tuple_or_response_is_kept():
    assert to_result((201, {"z": X})).status_code == 201
    failed = to_result(Response(body={"error": "no"}, status_code=422))
    assert failed.status_code == 422
    assert json.loads(failed.body) == {"error": "no"}


@pytest.mark.parametrize(
    ("result", "message"),
    [
        (None, "returned nothing"),
        (object(), "returned object"),
        ("{not json", "not JSON"),
        (
            {"outputs": [{"name": "o", "datatype": "FP32", "shape": [3], "data": [1, 2]}]},
            "2 values",
        ),
        ({"outputs": [{"name": "o", "datatype": "FP99", "data": [1]}]}, "unknown datatype"),
        ({"outputs": [{"datatype": "FP32", "data": [1]}]}, "has no name"),
        ({"outputs": [{"name": "o", "datatype": "FP32"}]}, "has no data"),
    ],
)
def test_results_that_cannot_be_outputs_say_why(result, message):
    with pytest.raises((TypeError, ValueError), match=message):
        to_result(result)


def test_results_and_requests_cross_processes_as_raw_buffers():
    big = np.arange(1 << 16, dtype=np.float32)
    result = to_result({"big": big, "b16": big[:4].astype(ml_dtypes.bfloat16)}).value
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(result, protocol=5, buffer_callback=buffers.append)
    assert len(data) < 2000  # the tensor is not in the pickle
    assert sum(b.raw().nbytes for b in buffers) >= big.nbytes
    back = pickle.loads(data, buffers=[b.raw() for b in buffers])
    np.testing.assert_array_equal(back.outputs[0].array, big)
    assert back.outputs[1].datatype == "BF16"
    request = InferenceRequest({"x": big}, model_name="m", id="7", parameters={"p": 1})
    buffers = []
    data = pickle.dumps(request, protocol=5, buffer_callback=buffers.append)
    back = pickle.loads(data, buffers=[b.raw() for b in buffers])
    assert (back.id, back.model_name, back.parameters) == ("7", "m", {"p": 1})
    np.testing.assert_array_equal(back["x"], big)


def test_the_lists_body_is_a_mapping_and_json_text():
    body = RequestBody({"model_name": "m", "inputs": [{"name": "a", "data": [1, 2]}]})
    assert json.loads(body) == {"model_name": "m", "inputs": [{"name": "a", "data": [1, 2]}]}
    assert body["inputs"][0]["data"] == [1, 2]
    assert body.get("id", "none") == "none"
    assert "inputs" in body
    assert "id" not in body
    assert list(body) == ["model_name", "inputs"]
    assert body == {"model_name": "m", "inputs": [{"name": "a", "data": [1, 2]}]}
    back = pickle.loads(pickle.dumps(body, protocol=5))
    assert back.data == body.data
    assert json.loads(back) == body.data
