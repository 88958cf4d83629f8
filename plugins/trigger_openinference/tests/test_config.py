"""``attributes`` as the core structures them, and what ``dh-serverless`` says about bad ones."""

from __future__ import annotations

import subprocess

import pytest
import yaml
from oi_support import BIN, function_yaml

from dh_serverless.core.config import structure
from dh_serverless.core.errors import ConfigError
from dh_serverless.triggers.openinference import OpenInferenceAttributes, TensorSpec

PATH = ("spec", "triggers", "model", "attributes")


def _structure(raw):
    return structure(raw, OpenInferenceAttributes, source="function.yaml", path=PATH)


def _problems(raw):
    with pytest.raises(ConfigError) as info:
        _structure(raw)
    return "\n".join(info.value.problems)


def test_model_name_defaults_to_model_as_the_original():
    assert _structure({}).model_name == "model"
    assert _structure(None).model_name == "model"


def test_defaults():
    a = _structure({"model_name": "m"})
    assert (a.model_version, a.rest_port, a.grpc_port, a.host) == ("1", 8080, 9000, "0.0.0.0")
    assert (a.enable_rest, a.enable_grpc, a.tensors) == (True, True, "lists")
    assert a.input_tensors == a.output_tensors == ()
    assert a.max_message_bytes > 4 * 1024 * 1024
    assert a.max_request_body_size > 4 * 1024 * 1024


def test_original_keys_load_in_any_case():
    a = _structure(
        {
            "MODEL_NAME": "m",
            "modelVersion": 2,
            "input_tensors": [{"name": "x", "data_type": "fp16", "shape": [-1, 3]}],
        }
    )
    assert a.model_version == "2"
    assert a.input_tensors == (TensorSpec(name="x", datatype="FP16", shape=(-1, 3)),)


def test_tensors_without_a_name_are_named_by_position():
    # DH Core writes output tensors without a name when the function spec gives none.
    a = _structure(
        {
            "model_name": "m",
            "input_tensors": [{"name": "input-0", "datatype": "FP32", "shape": [1, 4]}],
            "output_tensors": [{"datatype": "FP32", "shape": [1]}, {"datatype": "INT64"}],
        }
    )
    assert [t.name for t in a.output_tensors] == ["output-0", "output-1"]
    assert a.output_tensors[1].shape == ()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"model_name": ""}, "attributes: modelName: must not be empty"),
        (
            {"model_name": "m", "input_tensors": [{"name": "x", "datatype": "FP23"}]},
            "inputTensors.0: datatype: unknown datatype 'FP23'; did you mean 'FP32'?",
        ),
        (
            {
                "model_name": "m",
                "output_tensors": [{"name": "x", "datatype": "INT8", "shape": [-2]}],
            },
            "outputTensors.0: shape: [-2]: each dimension",
        ),
        (
            {"model_name": "m", "rest_port": 9000, "grpc_port": 9000},
            "restPort and grpcPort are both 9000",
        ),
        (
            {"model_name": "m", "enable_rest": False, "enable_grpc": False},
            "enableRest and enableGrpc are both false",
        ),
        (
            {"model_name": "m", "rest_port": 70000},
            "attributes: restPort: must be between 1 and 65535",
        ),
        ({"model_name": "m", "tensors": "torch"}, "tensors"),
        ({"model_name": "m", "modle_version": "1"}, "did you mean 'modelVersion'?"),
        (
            {"model_name": "m", "input_tensors": [{"name": "a", "datatype": "BOOL"}] * 2},
            "tensor 'a' is declared twice",
        ),
    ],
)
def test_bad_attributes_name_the_key(raw, message):
    assert message in _problems(raw)


def test_validate_exits_2_with_the_key_path(tmp_path):
    trigger = {
        "kind": "openinference",
        "attributes": {"model_name": "m", "input_tensors": [{"name": "x", "datatype": "FP23"}]},
    }
    path = tmp_path / "function.yaml"
    path.write_text(yaml.safe_dump(function_yaml("main:handler", {"model": trigger})))
    (tmp_path / "main.py").write_text("def handler(context, event):\n    return None\n")
    done = subprocess.run(
        [str(BIN / "dh-serverless"), "validate", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert (
        "spec.triggers.model.attributes.inputTensors.0: datatype: unknown datatype 'FP23'; "
        "did you mean 'FP32'?" in done.stdout + done.stderr
    )


def test_a_port_in_use_stops_the_function(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for key in ("rest_port", "grpc_port"):
            attributes = {"model_name": "m", "host": "127.0.0.1", "rest_port": 0, "grpc_port": 0}
            attributes[key] = port
            trigger = {"kind": "openinference", "attributes": attributes}
            path = tmp_path / "function.yaml"
            path.write_text(yaml.safe_dump(function_yaml("main:handler", {"model": trigger})))
            (tmp_path / "main.py").write_text("def handler(context, event):\n    return None\n")
            done = subprocess.run(
                [str(BIN / "dh-serverless"), "run", str(path), "--no-health"],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode != 0
            assert f"cannot listen on 127.0.0.1:{port}" in done.stdout + done.stderr
