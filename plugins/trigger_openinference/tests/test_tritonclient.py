"""Real tritonclient clients (http and grpc, sync and aio, binary and JSON) against an
identity model served by ``dh-serverless run``."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.grpc.aio as grpcaio
import tritonclient.http as httpclient
import tritonclient.http.aio as httpaio
from tritonclient.utils import InferenceServerException

NUMERIC = [
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
    "FP16", "FP32", "FP64",
]  # fmt: skip
STRINGS = [b"", "h\u00e9llo w\u00f6rld \u2603".encode(), b"plain", "\u65e5\u672c".encode(), b""]


def sample(datatype: str, shape: list[int], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    count = int(np.prod(shape))
    if datatype == "BOOL":
        return rng.integers(0, 2, count).astype(bool).reshape(shape)
    if datatype == "BYTES":
        return np.array((STRINGS * count)[:count], dtype=object).reshape(shape)
    if datatype == "BF16":  # tritonclient, like the trigger, holds BF16 as ml_dtypes.bfloat16
        return (rng.integers(-64, 64, count) / 4).astype(ml_dtypes.bfloat16).reshape(shape)
    if datatype.startswith("FP"):
        dtype = {"FP16": np.float16, "FP32": np.float32, "FP64": np.float64}[datatype]
        return (rng.standard_normal(count) * 100).astype(dtype).reshape(shape)
    dtype = np.dtype(datatype.lower())
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, count, dtype=dtype, endpoint=True).reshape(shape)


def http_inputs(arrays: dict[str, tuple[str, np.ndarray]], binary: bool) -> list:
    inputs = []
    for name, (datatype, array) in arrays.items():
        item = httpclient.InferInput(name, list(array.shape), datatype)
        item.set_data_from_numpy(array, binary_data=binary)
        inputs.append(item)
    return inputs


def grpc_inputs(arrays: dict[str, tuple[str, np.ndarray]]) -> list:
    inputs = []
    for name, (datatype, array) in arrays.items():
        item = grpcclient.InferInput(name, list(array.shape), datatype)
        item.set_data_from_numpy(array)
        inputs.append(item)
    return inputs


def assert_same(got: np.ndarray, sent: np.ndarray) -> None:
    assert got.shape == sent.shape
    if sent.dtype == object:
        # tritonclient gives JSON BYTES outputs as str, binary ones as bytes
        as_bytes = [x.encode() if isinstance(x, str) else bytes(x) for x in got.reshape(-1)]
        assert as_bytes == list(sent.reshape(-1))
    else:
        np.testing.assert_array_equal(got, sent)


ALL = {f"INPUT_{dt}": (dt, sample(dt, [2, 3], i)) for i, dt in enumerate([*NUMERIC, "BYTES"])}
BINARY_ONLY = {"INPUT_BF16": ("BF16", sample("BF16", [3, 2]))}


# ---------------------------------------------------------------------------
# Every datatype, each client, each encoding
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("binary_in", "binary_out"), [(True, True), (False, False), (True, False), (False, True)]
)
def test_http_sync_every_datatype(identity_server, binary_in, binary_out):
    arrays = {**ALL, **(BINARY_ONLY if binary_in else {})}
    client = httpclient.InferenceServerClient(identity_server.url)
    outputs = [
        httpclient.InferRequestedOutput(name.replace("INPUT", "OUTPUT"), binary_data=binary_out)
        for name in arrays
    ]
    result = client.infer("identity", http_inputs(arrays, binary_in), outputs=outputs)
    for name, (datatype, array) in arrays.items():
        out = name.replace("INPUT", "OUTPUT")
        assert result.get_output(out)["datatype"] == datatype
        assert ("binary_data_size" in result.get_output(out).get("parameters", {})) == (
            binary_out or datatype == "BF16"
        )
        assert_same(result.as_numpy(out), array)
    client.close()


def test_http_default_infer_is_binary_both_ways(identity_server):
    client = httpclient.InferenceServerClient(identity_server.url)
    x = sample("FP32", [1, 16])
    result = client.infer("identity", http_inputs({"INPUT0": ("FP32", x)}, True))
    assert result.get_output("OUTPUT0")["parameters"] == {"binary_data_size": 64}
    assert_same(result.as_numpy("OUTPUT0"), x)


def test_grpc_sync_every_datatype(identity_server):
    arrays = {**ALL, **BINARY_ONLY}
    client = grpcclient.InferenceServerClient(identity_server.grpc_url)
    result = client.infer("identity", grpc_inputs(arrays))
    for name, (datatype, array) in arrays.items():
        out = name.replace("INPUT", "OUTPUT")
        assert result.get_output(out).datatype == datatype
        assert_same(result.as_numpy(out), array)
    client.close()


async def test_http_aio_every_datatype(identity_server):
    client = httpaio.InferenceServerClient(identity_server.url)
    try:
        for binary in (True, False):
            arrays = {**ALL, **(BINARY_ONLY if binary else {})}
            result = await client.infer(
                "identity",
                http_inputs(arrays, binary),
                outputs=[
                    httpaio.InferRequestedOutput(n.replace("INPUT", "OUTPUT"), binary_data=binary)
                    for n in arrays
                ],
            )
            for name, (_, array) in arrays.items():
                assert_same(result.as_numpy(name.replace("INPUT", "OUTPUT")), array)
        assert await client.is_server_live()
        assert await client.is_model_ready("identity")
    finally:
        await client.close()


async def test_grpc_aio_every_datatype(identity_server):
    client = grpcaio.InferenceServerClient(identity_server.grpc_url)
    try:
        arrays = {**ALL, **BINARY_ONLY}
        result = await client.infer("identity", grpc_inputs(arrays), request_id="aio-1")
        assert result.get_response().id == "aio-1"
        for name, (_, array) in arrays.items():
            assert_same(result.as_numpy(name.replace("INPUT", "OUTPUT")), array)
        assert await client.is_server_ready()
        assert await client.is_model_ready("identity")
    finally:
        await client.close()


def test_bytes_with_non_utf8_go_binary_even_when_json_was_asked(identity_server):
    client = httpclient.InferenceServerClient(identity_server.url)
    x = np.array([b"\xff\xfe raw", b"", "\u00e9".encode()], dtype=object)
    result = client.infer(
        "identity",
        http_inputs({"INPUT0": ("BYTES", x)}, True),
        outputs=[httpclient.InferRequestedOutput("OUTPUT0", binary_data=False)],
    )
    assert "binary_data_size" in result.get_output("OUTPUT0")["parameters"]
    assert list(result.as_numpy("OUTPUT0")) == list(x)


# ---------------------------------------------------------------------------
# Declared shapes with -1, versions, subsets, ids, parameters
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("rows", [1, 5])
def test_variable_dimensions_over_both_protocols(identity_server, rows):
    x = sample("FP32", [rows, 16], rows)
    y = np.arange(rows * 3, dtype=np.int64)
    arrays = {"INPUT0": ("FP32", x), "INPUT1": ("INT64", y)}
    rest = httpclient.InferenceServerClient(f"127.0.0.1:{identity_server.ports['rest2']}")
    result = rest.infer("declared", http_inputs(arrays, True), model_version="3")
    assert_same(result.as_numpy("OUTPUT0"), x)
    assert_same(result.as_numpy("OUTPUT1"), y)
    grpc = grpcclient.InferenceServerClient(f"127.0.0.1:{identity_server.ports['grpc2']}")
    result = grpc.infer("declared", grpc_inputs(arrays), model_version="3")
    assert result.get_response().model_version == "3"
    assert_same(result.as_numpy("OUTPUT1"), y)


def test_versions_paths_and_metadata(identity_server):
    client = httpclient.InferenceServerClient(f"127.0.0.1:{identity_server.ports['rest2']}")
    meta = client.get_model_metadata("declared", model_version="3")
    assert meta == {
        "name": "declared",
        "versions": ["3"],
        "platform": "python",
        "inputs": [
            {"name": "INPUT0", "datatype": "FP32", "shape": [-1, 16]},
            {"name": "INPUT1", "datatype": "INT64", "shape": [-1]},
        ],
        "outputs": [
            {"name": "OUTPUT0", "datatype": "FP32", "shape": [-1, 16]},
            {"name": "OUTPUT1", "datatype": "INT64", "shape": [-1]},
        ],
    }
    assert client.is_model_ready("declared", "3")
    assert not client.is_model_ready("declared", "4")
    assert not client.is_model_ready("nope")
    with pytest.raises(InferenceServerException) as info:
        client.get_model_metadata("declared", model_version="4")
    assert info.value.status() == "404"
    assert "version '4'" in info.value.message()
    grpc = grpcclient.InferenceServerClient(f"127.0.0.1:{identity_server.ports['grpc2']}")
    assert grpc.is_model_ready("declared", "3")
    assert not grpc.is_model_ready("declared", "2")
    assert not grpc.is_model_ready("other")
    assert list(grpc.get_model_metadata("declared", "3").versions) == ["3"]


def test_requested_output_subsets(identity_server):
    x = sample("FP32", [2, 16])
    y = np.arange(4, dtype=np.int64)
    arrays = {"INPUT0": ("FP32", x), "INPUT1": ("INT64", y)}
    rest = httpclient.InferenceServerClient(f"127.0.0.1:{identity_server.ports['rest2']}")
    result = rest.infer(
        "declared",
        http_inputs(arrays, False),
        outputs=[
            httpclient.InferRequestedOutput("OUTPUT1", binary_data=False),
            httpclient.InferRequestedOutput("OUTPUT0", binary_data=True),
        ],
    )
    names = [o["name"] for o in result.get_response()["outputs"]]
    assert names == ["OUTPUT1", "OUTPUT0"]
    assert result.get_output("OUTPUT1")["data"] == [0, 1, 2, 3]
    assert_same(result.as_numpy("OUTPUT0"), x)
    only = rest.infer(
        "declared", http_inputs(arrays, True), outputs=[httpclient.InferRequestedOutput("OUTPUT0")]
    )
    assert [o["name"] for o in only.get_response()["outputs"]] == ["OUTPUT0"]
    grpc = grpcclient.InferenceServerClient(f"127.0.0.1:{identity_server.ports['grpc2']}")
    result = grpc.infer(
        "declared", grpc_inputs(arrays), outputs=[grpcclient.InferRequestedOutput("OUTPUT1")]
    )
    assert [o.name for o in result.get_response().outputs] == ["OUTPUT1"]
    assert_same(result.as_numpy("OUTPUT1"), y)


def test_ids_and_parameters_reach_the_handler_and_come_back(identity_server):
    x = sample("FP32", [1, 4])
    rest = httpclient.InferenceServerClient(identity_server.url)
    result = rest.infer(
        "identity",
        http_inputs({"INPUT0": ("FP32", x)}, True),
        request_id="req-42",
        parameters={"temperature": 0.5, "label": "cat", "top_k": 3, "greedy": True},
    )
    response = result.get_response()
    assert response["id"] == "req-42"
    assert response["parameters"] == {
        "temperature": 0.5,
        "label": "cat",
        "top_k": 3,
        "greedy": True,
    }
    grpc = grpcclient.InferenceServerClient(identity_server.grpc_url)
    result = grpc.infer(
        "identity",
        grpc_inputs({"INPUT0": ("FP32", x)}),
        request_id="req-43",
        parameters={"temperature": 0.5, "label": "cat", "top_k": 3, "greedy": True},
    )
    response = result.get_response()
    assert response.id == "req-43"
    params = {
        k: getattr(v, v.WhichOneof("parameter_choice")) for k, v in response.parameters.items()
    }
    assert params == {"temperature": 0.5, "label": "cat", "top_k": 3, "greedy": True}


def test_tensor_parameters_reach_the_handler(identity_server):
    x = sample("FP32", [1, 2])
    rest = httpclient.InferenceServerClient(identity_server.url)
    item = httpclient.InferInput("INPUT0", [1, 2], "FP32")
    item.set_data_from_numpy(x, binary_data=False)
    item._parameters["scale"] = "celsius"  # tritonclient has no public setter for these
    result = rest.infer(
        "identity", [item], outputs=[httpclient.InferRequestedOutput("OUTPUT0", binary_data=False)]
    )
    assert result.get_output("OUTPUT0")["parameters"] == {"scale": "celsius"}


def test_messages_over_4_mib(identity_server):
    x = sample("FP32", [1, 3, 640, 640])  # 4.9 MB
    assert x.nbytes > 4 * 1024 * 1024
    rest = httpclient.InferenceServerClient(identity_server.url, network_timeout=60)
    result = rest.infer("identity", http_inputs({"INPUT0": ("FP32", x)}, True))
    assert_same(result.as_numpy("OUTPUT0"), x)
    grpc = grpcclient.InferenceServerClient(identity_server.grpc_url)
    result = grpc.infer("identity", grpc_inputs({"INPUT0": ("FP32", x)}))
    assert_same(result.as_numpy("OUTPUT0"), x)


def test_server_metadata_and_health(identity_server):
    rest = httpclient.InferenceServerClient(identity_server.url)
    assert rest.is_server_live()
    assert rest.is_server_ready()
    meta = rest.get_server_metadata()
    assert "binary_tensor_data" in meta["extensions"]
    grpc = grpcclient.InferenceServerClient(identity_server.grpc_url)
    assert grpc.is_server_live()
    assert grpc.is_server_ready()
    assert "binary_tensor_data" in grpc.get_server_metadata().extensions


def test_triton_only_rpcs_are_unimplemented(identity_server):
    grpc = grpcclient.InferenceServerClient(identity_server.grpc_url)
    for call in (
        lambda: grpc.get_model_config("identity"),
        lambda: grpc.get_inference_statistics("identity"),
        lambda: grpc.get_model_repository_index(),
    ):
        with pytest.raises(InferenceServerException) as info:
            call()
        assert info.value.status() == "StatusCode.UNIMPLEMENTED"
    rest = httpclient.InferenceServerClient(identity_server.url)
    with pytest.raises(InferenceServerException) as info:
        rest.get_model_config("identity")
    assert info.value.status() == "501"


def test_bf16_keeps_every_bit(identity_server):
    words = np.array([0x3FC0, 0xC000, 0x7F80, 0x0001, 0xFFFF], dtype=np.uint16)
    x = words.view(ml_dtypes.bfloat16).reshape(1, 5)  # 1.5, -2, inf, a subnormal, a NaN
    grpc = grpcclient.InferenceServerClient(identity_server.grpc_url)
    result = grpc.infer("identity", grpc_inputs({"INPUT0": ("BF16", x)}))
    assert result.as_numpy("OUTPUT0").view(np.uint16).tolist() == [words.tolist()]
    rest = httpclient.InferenceServerClient(identity_server.url)
    result = rest.infer("identity", http_inputs({"INPUT0": ("BF16", x)}, True))
    assert result.as_numpy("OUTPUT0").view(np.uint16).tolist() == [words.tolist()]
