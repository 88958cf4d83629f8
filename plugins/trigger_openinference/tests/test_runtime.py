"""The trigger inside the runtime: process workers, /metrics, gRPC health and reflection,
tritonclient and the trigger in one process, shutdown."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from google.protobuf import descriptor_pool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from oi_support import FUNCTIONS, Server, function_yaml, oi_trigger, serve
from tritonclient.utils import InferenceServerException

from dh_serverless.testing import free_port


@pytest.fixture(scope="module")
def process_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Identity (numpy) and the original's handler (lists) on spawned worker processes."""
    rest, grpc_port = free_port(), free_port()
    config = function_yaml(
        "oi_handlers:identity",
        {"model": oi_trigger("identity", rest, grpc_port, tensors="numpy", maxWorkers=2)},
        workerKind="process",
    )
    with serve(
        tmp_path_factory.mktemp("process"),
        config,
        [FUNCTIONS / "oi_handlers.py"],
        ports={"rest": rest, "grpc": grpc_port},
        timeout=60,
    ) as server:
        yield server


def test_process_workers_take_and_return_numpy(process_server):
    x = np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype(np.float32)
    words = np.array([b"a", "\u00e9".encode(), b""], dtype=object)
    rest = httpclient.InferenceServerClient(process_server.url)
    inputs = []
    for name, datatype, array in (("INPUT0", "FP32", x), ("INPUT1", "BYTES", words)):
        item = httpclient.InferInput(name, list(array.shape), datatype)
        item.set_data_from_numpy(array)
        inputs.append(item)
    result = rest.infer("identity", inputs)
    np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), x)
    assert list(result.as_numpy("OUTPUT1")) == list(words)
    client = grpcclient.InferenceServerClient(process_server.grpc_url)
    item = grpcclient.InferInput("INPUT0", list(x.shape), "FP32")
    item.set_data_from_numpy(x)
    np.testing.assert_array_equal(client.infer("identity", [item]).as_numpy("OUTPUT0"), x)
    assert "worker_restarts" not in process_server.logs()


def test_metrics_count_each_model_and_protocol(identity_server):
    x = np.zeros((1, 4), dtype=np.float32)
    rest = httpclient.InferenceServerClient(identity_server.url)
    item = httpclient.InferInput("INPUT0", [1, 4], "FP32")
    item.set_data_from_numpy(x)
    before = identity_server.metrics()
    for _ in range(3):
        rest.infer("identity", [item])
    with pytest.raises(InferenceServerException):
        rest.infer("nope", [item])
    text = identity_server.metrics()

    def value(page: str, prefix: str) -> float:
        lines = [ln for ln in page.splitlines() if ln.startswith(prefix)]
        return float(lines[0].split()[-1]) if lines else 0.0

    ok = 'dh_openinference_requests_total{model="identity",outcome="ok",protocol="rest"}'
    missing = (
        'dh_openinference_requests_total{model="identity",outcome="not_found",protocol="rest"}'
    )
    count = 'dh_openinference_infer_seconds_count{model="identity",protocol="rest"}'
    sent = 'dh_openinference_bytes_total{direction="out",model="identity",protocol="rest"}'
    assert value(text, ok) - value(before, ok) == 3
    assert value(text, missing) - value(before, missing) == 1
    assert value(text, count) - value(before, count) == 3
    assert value(text, sent) > value(before, sent)
    assert 'model="declared"' in text


def test_grpc_health_and_reflection(identity_server):
    channel = grpc.insecure_channel(identity_server.grpc_url)
    try:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", "inference.GRPCInferenceService"):
            answer = stub.Check(health_pb2.HealthCheckRequest(service=service))
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
        database = ProtoReflectionDescriptorDatabase(channel)
        assert "inference.GRPCInferenceService" in database.get_services()
        pool = descriptor_pool.DescriptorPool(database)
        service = pool.FindServiceByName("inference.GRPCInferenceService")
        assert {m.name for m in service.methods} == {
            "ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata",
            "ModelInfer",
        }  # fmt: skip
        message = pool.FindMessageTypeByName("inference.ModelInferRequest")
        assert message.fields_by_name["raw_input_contents"].number == 7
    finally:
        channel.close()


CLASH = """
import {first}, {second}
import numpy as np
from tritonclient.grpc import service_pb2
from dh_serverless.triggers.openinference._generated import dh_openinference_pb2 as ours
raw = service_pb2.ModelInferRequest(model_name="m", raw_input_contents=[b"x"]).SerializeToString()
assert ours.ModelInferRequest.FromString(raw).raw_input_contents == [b"x"]
print("ok")
"""


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("tritonclient.grpc", "dh_serverless.triggers.openinference"),
        ("dh_serverless.triggers.openinference", "tritonclient.grpc"),
    ],
)
def test_tritonclient_and_the_trigger_import_in_one_process(first, second):
    code = CLASH.format(first=first, second=second)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_sigterm_lets_inflight_requests_finish(tmp_path):
    rest, grpc_port = free_port(), free_port()
    trigger = oi_trigger("slow", rest, grpc_port, tensors="numpy", maxWorkers=2)
    config = function_yaml("oi_handlers:misbehave", {"slow": trigger})
    config["spec"]["gracefulShutdownTimeout"] = 5
    with serve(
        tmp_path, config, [FUNCTIONS / "oi_handlers.py"], ports={"rest": rest, "grpc": grpc_port}
    ) as server:
        x = np.ones((1, 2), dtype=np.float32)
        outcome: dict[str, object] = {}

        def call() -> None:
            client = httpclient.InferenceServerClient(server.url, network_timeout=30)
            item = httpclient.InferInput("INPUT0", [1, 2], "FP32")
            item.set_data_from_numpy(x)
            params = {"mode": "sleep", "seconds": 1.0}
            outcome["rest"] = client.infer("slow", [item], parameters=params).as_numpy("OUTPUT0")

        worker = threading.Thread(target=call)
        worker.start()
        time.sleep(0.4)
        server.proc.send_signal(signal.SIGTERM)
        worker.join(15)
        assert server.proc.wait(15) == 0
        np.testing.assert_array_equal(outcome["rest"], x)
        assert "openinference trigger slow stopped" in server.logs()
