"""The original's own test handler and client scenarios, and the seed README's example.

The handler (``functions/seed/test_handler.py``) and the README's handler
(``functions/seed/readme_handler.py``) are the seed's code as written. The REST scenarios
are those of its ``test_rest_client.py`` (1-8), sent as ``requests`` sends them; the gRPC
scenarios those of its ``test_grpc_client.py``, through stubs generated from Triton's
``grpc_service.proto`` (tritonclient ships them, as the original generated them).
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
import yaml
from oi_support import BIN, FUNCTIONS, Server, function_yaml, oi_trigger, serve
from tritonclient.grpc import service_pb2, service_pb2_grpc

from dh_serverless.testing import free_port

SEED = FUNCTIONS / "seed"


@pytest.fixture(scope="module")
def seed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The original's handler and trigger settings (tensors undeclared: see the README)."""
    rest, grpc_port = free_port(), free_port()
    trigger = oi_trigger("test-model", rest, grpc_port, model_version="1.0", maxWorkers=4)
    with serve(
        tmp_path_factory.mktemp("seed"),
        function_yaml("test_handler:handler", {"openinference": trigger}, runtime="python"),
        [SEED / "test_handler.py"],
        ports={"rest": rest, "grpc": grpc_port},
    ) as server:
        yield server


def rest_call(server: Server, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """As ``requests.get`` / ``requests.post(json=...)`` of the original's client."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://{server.url}/v2{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"} if data is not None else {},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


# ---------------------------------------------------------------------------
# REST scenarios 1-8 of test_rest_client.py
# ---------------------------------------------------------------------------


def test_rest_1_server_live(seed_server):
    assert rest_call(seed_server, "GET", "/health/live") == (200, {"live": True})


def test_rest_2_server_ready(seed_server):
    assert rest_call(seed_server, "GET", "/health/ready") == (200, {"ready": True})


def test_rest_3_model_metadata(seed_server):
    status, data = rest_call(seed_server, "GET", "/models/test-model")
    assert status == 200
    assert data["name"] == "test-model"
    assert data["versions"] == ["1.0"]
    assert data["inputs"] == []
    assert data["outputs"] == []


def test_rest_4_fp32(seed_server):
    request = {
        "id": "test-fp32-001",
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 3], "data": [1.0, 2.0, 3.0]}],
    }
    status, data = rest_call(seed_server, "POST", "/models/test-model/infer", request)
    assert status == 200
    assert data["id"] == "test-fp32-001"
    assert len(data["outputs"]) > 0
    assert data["outputs"] == [
        {"name": "output_input", "datatype": "FP32", "shape": [1, 3], "data": [2.0, 4.0, 6.0]}
    ]
    assert (data["model_name"], data["model_version"]) == ("test-model", "1.0")


def test_rest_5_int64(seed_server):
    request = {
        "id": "test-int64-001",
        "inputs": [
            {"name": "input", "datatype": "INT64", "shape": [1, 5], "data": [10, 20, 30, 40, 50]}
        ],
    }
    status, data = rest_call(seed_server, "POST", "/models/test-model/infer", request)
    assert status == 200
    assert data["outputs"][0]["data"] == [20, 40, 60, 80, 100]


def test_rest_6_bytes(seed_server):
    request = {
        "id": "test-bytes-001",
        "inputs": [
            {"name": "text_input", "datatype": "BYTES", "shape": [1, 2], "data": ["hello", "world"]}
        ],
    }
    status, data = rest_call(seed_server, "POST", "/models/test-model/infer", request)
    assert status == 200
    assert data["outputs"][0]["name"] == "output_text_input"
    assert data["outputs"][0]["data"] == ["HELLO", "WORLD"]


def test_rest_7_parameters(seed_server):
    request = {
        "id": "test-params-001",
        "parameters": {"temperature": 0.7, "max_tokens": 100, "top_p": 0.9},
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 2], "data": [0.5, 0.8]}],
    }
    status, data = rest_call(seed_server, "POST", "/models/test-model/infer", request)
    assert status == 200
    assert data["parameters"] == {"temperature": 0.7, "max_tokens": 100, "top_p": 0.9}
    assert data["outputs"][0]["data"] == [1.0, 1.6]


def test_rest_8_multiple_inputs(seed_server):
    request = {
        "id": "test-multi-001",
        "inputs": [
            {"name": "input1", "datatype": "FP32", "shape": [1, 2], "data": [1.0, 2.0]},
            {"name": "input2", "datatype": "INT64", "shape": [1, 3], "data": [10, 20, 30]},
            {"name": "input3", "datatype": "BOOL", "shape": [1, 2], "data": [True, False]},
        ],
    }
    status, data = rest_call(seed_server, "POST", "/models/test-model/infer", request)
    assert status == 200
    assert len(data["outputs"]) == len(request["inputs"])
    assert [o["data"] for o in data["outputs"]] == [[2.0, 4.0], [20, 40, 60], [False, True]]


# ---------------------------------------------------------------------------
# gRPC scenarios of test_grpc_client.py
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stub(seed_server) -> Iterator[Any]:
    channel = grpc.insecure_channel(seed_server.grpc_url)
    yield service_pb2_grpc.GRPCInferenceServiceStub(channel)
    channel.close()


def test_grpc_server_live_and_ready(stub):
    assert stub.ServerLive(service_pb2.ServerLiveRequest()).live is True
    assert stub.ServerReady(service_pb2.ServerReadyRequest()).ready is True


def test_grpc_model_ready(stub):
    request = service_pb2.ModelReadyRequest(name="test-model", version="1.0")
    assert stub.ModelReady(request).ready is True


def test_grpc_server_metadata(stub):
    response = stub.ServerMetadata(service_pb2.ServerMetadataRequest())
    assert response.name == "digitalhub-serverless"
    assert response.version == "1.0.0"


def test_grpc_model_metadata(stub):
    request = service_pb2.ModelMetadataRequest(name="test-model", version="1.0")
    response = stub.ModelMetadata(request)
    assert response.name == "test-model"
    assert response.versions[0] == "1.0"


def test_grpc_model_infer_typed_contents(stub):
    request = service_pb2.ModelInferRequest(
        model_name="test-model",
        model_version="1.0",
        inputs=[
            service_pb2.ModelInferRequest.InferInputTensor(
                name="input",
                datatype="FP32",
                shape=[1, 3],
                contents=service_pb2.InferTensorContents(fp32_contents=[0.1, 0.2, 0.3]),
            )
        ],
    )
    response = stub.ModelInfer(request)
    assert response.model_name == "test-model"
    assert response.model_version == "1.0"
    assert len(response.outputs) == 1
    output = response.outputs[0]
    assert output.name == "output_input"
    assert output.datatype == "FP32"
    assert output.shape == [1, 3]
    assert np.allclose(output.contents.fp32_contents, [0.2, 0.4, 0.6])


# ---------------------------------------------------------------------------
# The same handler, unmodified, behind tritonclient: binary and raw on the wire
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("binary", [True, False])
def test_original_handler_over_tritonclient_http(seed_server, binary):
    client = httpclient.InferenceServerClient(seed_server.url)
    x = np.array([[1.5, -2.0, 3.25]], dtype=np.float32)
    words = np.array([["h\u00e9llo", "", "world"]], dtype=object)
    inputs = []
    for name, datatype, array in (("input", "FP32", x), ("text_input", "BYTES", words)):
        item = httpclient.InferInput(name, list(array.shape), datatype)
        item.set_data_from_numpy(array, binary_data=binary)
        inputs.append(item)
    outputs = [
        httpclient.InferRequestedOutput("output_input", binary_data=binary),
        httpclient.InferRequestedOutput("output_text_input", binary_data=binary),
    ]
    result = client.infer("test-model", inputs, outputs=outputs, model_version="1.0")
    np.testing.assert_array_equal(result.as_numpy("output_input"), x * 2)
    got = [
        v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("output_text_input")[0]
    ]
    assert got == ["H\u00c9LLO", "", "WORLD"]


def test_original_handler_over_tritonclient_grpc(seed_server):
    client = grpcclient.InferenceServerClient(seed_server.grpc_url)
    arrays = {
        "input": ("FP32", np.array([[0.5, 1.5]], dtype=np.float32)),
        "flag": ("BOOL", np.array([True, False])),
        "count": ("UINT8", np.array([1, 2, 3], dtype=np.uint8)),
        "text": ("BYTES", np.array([b"abc", b""], dtype=object)),
    }
    inputs = []
    for name, (datatype, array) in arrays.items():
        item = grpcclient.InferInput(name, list(array.shape), datatype)
        item.set_data_from_numpy(array)
        inputs.append(item)
    result = client.infer("test-model", inputs, request_id="g-1", parameters={"top_p": 0.9})
    assert result.get_response().id == "g-1"
    np.testing.assert_array_equal(result.as_numpy("output_input"), [[1.0, 3.0]])
    np.testing.assert_array_equal(result.as_numpy("output_flag"), [False, True])
    np.testing.assert_array_equal(result.as_numpy("output_count"), [2, 4, 6])
    assert list(result.as_numpy("output_text")) == [b"ABC", b""]


# ---------------------------------------------------------------------------
# The seed README: its YAML and its handler, as written
# ---------------------------------------------------------------------------

README_YAML = """
triggers:
  myopeninferencetrigger:
    kind: openinference
    attributes:
      model_name: my-model              # Model name (default: "model")
      model_version: "1.0"               # Model version (default: "1")
      rest_port: 8080                    # REST API port (default: 8080)
      grpc_port: 9000                    # gRPC port (default: 9000)
      enable_rest: true                  # Enable REST endpoints (default: true)
      enable_grpc: true                  # Enable gRPC endpoints (default: true)
      input_tensors:                     # Input tensor definitions
        - name: input
          datatype: FP32
          shape: [1, 3, 224, 224]
      output_tensors:                    # Output tensor definitions
        - name: output
          datatype: FP32
          shape: [1, 1000]
    maxWorkers: 4
"""


def test_readme_example_runs_as_written(tmp_path):
    triggers = yaml.safe_load(README_YAML)["triggers"]
    attributes = triggers["myopeninferencetrigger"]["attributes"]
    rest, grpc_port = free_port(), free_port()
    attributes.update(rest_port=rest, grpc_port=grpc_port, host="127.0.0.1")  # free ports only
    config = function_yaml("readme_handler:handler", triggers)
    x = np.full((1, 3, 224, 224), 0.5, dtype=np.float32)
    with serve(
        tmp_path, config, [SEED / "readme_handler.py"], ports={"rest": rest, "grpc": grpc_port}
    ) as server:
        client = httpclient.InferenceServerClient(server.url)
        item = httpclient.InferInput("input", [1, 3, 224, 224], "FP32")
        item.set_data_from_numpy(x)
        result = client.infer("my-model", [item], model_version="1.0")
        out = result.as_numpy("output")
        assert out.shape == (1, 1000)
        assert np.all(out == x.sum())
        assert client.get_model_metadata("my-model", "1.0")["inputs"] == [
            {"name": "input", "datatype": "FP32", "shape": [1, 3, 224, 224]}
        ]
        g = grpcclient.InferenceServerClient(server.grpc_url)
        gi = grpcclient.InferInput("input", [1, 3, 224, 224], "FP32")
        gi.set_data_from_numpy(x)
        assert np.all(g.infer("my-model", [gi]).as_numpy("output") == x.sum())


def test_the_originals_sample_config_is_explained(tmp_path):
    """The original's sample YAML puts ``max_workers`` in ``attributes`` (ignored there);
    dh-serverless says where it belongs, and reads its ``data_type`` keys as ``datatype``."""
    original = {
        "apiVersion": "nuclio.io/v1",
        "kind": "NuclioFunction",
        "metadata": {"name": "openinference-test", "namespace": "nuclio"},
        "spec": {
            "runtime": "python",
            "handler": "test_handler:handler",
            "triggers": {
                "openinference": {
                    "kind": "openinference",
                    "attributes": {
                        "model_name": "test-model",
                        "model_version": "1.0",
                        "enable_rest": True,
                        "enable_grpc": True,
                        "rest_port": 8080,
                        "grpc_port": 9000,
                        "input_tensors": [
                            {"name": "input", "data_type": "FP32", "shape": [1, 224, 224, 3]},
                            {"name": "text_input", "data_type": "BYTES", "shape": [1]},
                        ],
                        "output_tensors": [
                            {
                                "name": "output_input",
                                "data_type": "FP32",
                                "shape": [1, 224, 224, 3],
                            },
                            {"name": "output_text_input", "data_type": "BYTES", "shape": [1]},
                        ],
                        "max_workers": 4,
                    },
                }
            },
        },
    }
    path = tmp_path / "openinference-processor.yaml"
    path.write_text(yaml.safe_dump(original))
    (tmp_path / "test_handler.py").write_text((SEED / "test_handler.py").read_text())
    done = subprocess.run(
        [str(BIN / "dh-serverless"), "validate", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "attributes.max_workers: belongs to the trigger" in done.stdout + done.stderr
    trigger = original["spec"]["triggers"]["openinference"]
    trigger["maxWorkers"] = trigger["attributes"].pop("max_workers")
    path.write_text(yaml.safe_dump(original))
    done = subprocess.run(
        [str(BIN / "dh-serverless"), "validate", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
