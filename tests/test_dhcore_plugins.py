"""DH Core's openinference and guardrail (extproc) function.yaml files load and run.

Each test runs a real trigger plugin;
the shapes are DH Core's, as its Jackson mapper writes them (:mod:`dhcore_fixtures`).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dhcore_fixtures import (
    clean_env,
    free_port,
    guardrail_yaml,
    http,
    openinference_yaml,
    stop,
    wait_until,
)

from dh_serverless.core.config import load_function_config
from dh_serverless.core.plugins import PluginHost
from dh_serverless.core.prepare import prepare_triggers

PROCESSOR = Path(sys.executable).parent / "dh-serverless-processor"
RUN_ID = "0b7c4e5f9a2d"

HANDLER = """
def handler(context, event):
    return event.body
"""


def shared(tmp_path: Path, function_yaml: str) -> Path:
    folder = tmp_path / "shared"
    folder.mkdir(exist_ok=True)
    (folder / "handler.py").write_text(textwrap.dedent(HANDLER))
    (folder / "function.yaml").write_text(function_yaml)
    return folder / "function.yaml"


def prepared_one(path: Path):
    config = load_function_config(path, processor=True)
    (prepared,) = prepare_triggers(config, str(path), PluginHost())
    return config, prepared


def start(config: Path, health: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [PROCESSOR, "--config", config, "--health-host", "127.0.0.1",
         "--health-port", str(health)],
        cwd=config.parent,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip

    def ready() -> bool:
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"processor exited {process.returncode}\n{out}\n{err}")
        try:
            return http(f"http://127.0.0.1:{health}/ready", timeout=2)[0] == 200
        except OSError:
            return False

    wait_until(ready, 30, "/ready")
    return process


# ---------------------------------------------------------------------------
# openinference+serve
# ---------------------------------------------------------------------------


def test_openinference_yaml_loads_with_the_run_id_as_model_version(tmp_path):
    config, prepared = prepared_one(shared(tmp_path, openinference_yaml(RUN_ID)))
    assert list(config.spec.triggers) == ["openinference"]  # no default http beside it
    assert prepared.config.workers == 4
    attributes = prepared.attributes
    assert (attributes.model_name, attributes.model_version) == ("mymodel", RUN_ID)
    assert (attributes.rest_port, attributes.grpc_port) == (8080, 9000)
    assert attributes.enable_rest
    assert attributes.enable_grpc
    (tensor,) = attributes.input_tensors
    assert (tensor.name, tensor.datatype, tuple(tensor.shape)) == ("input-0", "FP32", (1, 4))
    # DH Core writes a tensor without a name when the function spec gives none.
    assert len(attributes.output_tensors) == 1


def test_openinference_serves_rest_with_the_run_id_as_version(tmp_path):
    rest, grpc_port, health = free_port(), free_port(), free_port()
    text = openinference_yaml(RUN_ID, rest_port=rest, grpc_port=grpc_port)
    process = start(shared(tmp_path, text), health)
    try:
        status, body = http(f"http://127.0.0.1:{rest}/v2/models/mymodel")
        assert status == 200, body
        assert RUN_ID in json.loads(body).get("versions", [])
        status, _ = http(f"http://127.0.0.1:{rest}/v2/models/mymodel/versions/{RUN_ID}/ready")
        assert status == 200
        with socket.create_connection(("127.0.0.1", grpc_port), timeout=5):
            pass
    finally:
        _, err = stop(process)
    assert process.returncode == 0, err


# ---------------------------------------------------------------------------
# guardrail+serve (extproc)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("processor_type", ["preprocessor", "postprocessor", "wrapprocessor"])
def test_guardrail_yaml_loads_with_the_originals_processing_defaults(tmp_path, processor_type):
    config, prepared = prepared_one(shared(tmp_path, guardrail_yaml(processor_type)))
    assert list(config.spec.triggers) == ["extproc"]  # no default http beside it
    assert prepared.config.workers == 4
    attributes = prepared.attributes
    assert str(getattr(attributes.type, "value", attributes.type)) == processor_type
    assert attributes.port == 5051
    options = attributes.processing_options
    assert options.per_request_body_buffer_bytes == 1024 * 1024
    assert options.buffer_streamed_bodies is True
    assert options.decompress_bodies is True


def test_guardrail_serves_grpc_on_its_port(tmp_path):
    port, health = free_port(), free_port()
    text = guardrail_yaml("preprocessor", port=port).replace(
        f"port: {port}\n", f'port: {port}\n                host: "127.0.0.1"\n'
    )
    process = start(shared(tmp_path, text), health)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    finally:
        _, err = stop(process)
    assert process.returncode == 0, err
