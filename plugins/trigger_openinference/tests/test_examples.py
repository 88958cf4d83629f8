"""The worked examples in contrib/examples run as their READMEs say (on free ports)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import tritonclient.http as httpclient
import yaml
from oi_support import ROOT, serve
from tritonclient.utils import InferenceServerException

from dh_serverless.testing import free_port

EXAMPLES = ROOT / "contrib" / "examples"


def run_example(tmp_path, folder: str, config_name: str):
    source = EXAMPLES / folder
    config = yaml.safe_load((source / config_name).read_text())
    rest, grpc = free_port(), free_port()
    for trigger in config["spec"]["triggers"].values():
        trigger["attributes"].update(rest_port=rest, grpc_port=grpc, host="127.0.0.1")
    files = [p for p in source.iterdir() if p.suffix == ".py"]
    return serve(tmp_path, config, files, ports={"rest": rest, "grpc": grpc}, timeout=60)


def client(server, folder) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "client.py", "--http", server.url, "--grpc", server.grpc_url],
        cwd=EXAMPLES / folder,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("config_name", ["function.yaml", "function-lists.yaml"])
def test_identity_example_both_styles(tmp_path, config_name):
    with run_example(tmp_path, "openinference-identity", config_name) as server:
        done = client(server, "openinference-identity")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        "REST live: True model ready: True",
        "REST binary: OUTPUT0 == INPUT0: True",
        "REST JSON: OUTPUT0 == INPUT0: True",
        "gRPC: OUTPUT0 == INPUT0: True (id grpc-1)",
    ]


def test_logistic_regression_example(tmp_path):
    with run_example(tmp_path, "openinference-logreg", "function.yaml") as server:
        done = client(server, "openinference-logreg")
        rest = httpclient.InferenceServerClient(server.url)
        x = np.array([[1.0, 0.5, -0.5, -1.0], [-1.0, -0.5, 0.5, 1.0]], dtype=np.float32)
        item = httpclient.InferInput("features", list(x.shape), "FP32")
        item.set_data_from_numpy(x)
        assert rest.infer("classifier", [item]).as_numpy("label").tolist() == [1, 0]
        assert "classifier trained: training accuracy" in server.logs()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "REST and gRPC agree: True" in done.stdout
    accuracy = float(done.stdout.split("held-out points: ")[1].split()[0])
    assert accuracy >= 0.9


def test_logistic_regression_example_batched(tmp_path):
    folder = "openinference-logreg"
    with run_example(tmp_path, folder, "function-batched.yaml") as server:
        addresses = ["--http", server.url, "--grpc", server.grpc_url]
        addresses += ["--metrics", f"127.0.0.1:{server.health}"]
        done = subprocess.run(
            [sys.executable, "many_clients.py", *addresses],
            cwd=EXAMPLES / folder,
            capture_output=True,
            text=True,
            timeout=120,
        )
        # A request of more rows than max_batch_size is refused, as Triton refuses it.
        rest = httpclient.InferenceServerClient(server.url)
        x = np.zeros((65, 4), dtype=np.float32)
        item = httpclient.InferInput("features", list(x.shape), "FP32")
        item.set_data_from_numpy(x)
        with pytest.raises(InferenceServerException, match="at most maxBatchSize = 64"):
            rest.infer("classifier", [item])
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[:3] == [
        "500 requests, 64 at a time, REST and gRPC",
        "accuracy on 500 held-out points: 0.958",
        "each answer matches the model computed here: True",
    ]
    rows_per_call = float(lines[3].split(": ")[1])
    assert rows_per_call > 1, "no two requests shared a handler call"
