"""``spec.processes: 2``: REST and gRPC served from two processes on shared ports
(``SO_REUSEPORT``), real tritonclient clients, one ``/metrics``."""

from __future__ import annotations

import signal
import time
import urllib.error
import urllib.request

import numpy as np
import psutil
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from oi_support import function_yaml, oi_trigger, serve
from prometheus_client.parser import text_string_to_metric_families

from dh_serverless.testing import free_port

HANDLER = '''
import os

import numpy as np


def pid(context, event):
    """The serving process's PID as OUTPUT0."""
    return {"outputs": [{"name": "OUTPUT0", "data": np.array([os.getpid()], dtype=np.int64)}]}
'''


def _sum(text: str, name: str, **labels: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def _inputs_http() -> list:
    one = httpclient.InferInput("INPUT0", [1], "INT64")
    one.set_data_from_numpy(np.array([1], dtype=np.int64))
    return [one]


def _inputs_grpc() -> list:
    one = grpcclient.InferInput("INPUT0", [1], "INT64")
    one.set_data_from_numpy(np.array([1], dtype=np.int64))
    return [one]


def _wait_ready(health: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{health}/ready", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.HTTPError, OSError):
            pass
        assert time.monotonic() < deadline, "the function never became ready"
        time.sleep(0.1)


def test_rest_and_grpc_answer_from_two_processes(tmp_path):
    handler = tmp_path / "src" / "pid_handler.py"
    handler.parent.mkdir()
    handler.write_text(HANDLER)
    rest, grpc = free_port(), free_port()
    config = function_yaml(
        "pid_handler:pid",
        {"oi": oi_trigger("pid", rest, grpc, tensors="numpy", maxWorkers=4)},
        processes=2,
    )
    with serve(tmp_path / "fn", config, [handler], ports={"rest": rest, "grpc": grpc}) as server:
        _wait_ready(server.health)
        parent = server.proc.pid
        children = psutil.Process(parent).children()
        assert len(children) == 1
        rest_pids, grpc_pids = set(), set()
        for _ in range(60):  # one client (one connection) per call: the kernel spreads them
            client = httpclient.InferenceServerClient(server.url)
            result = client.infer("pid", _inputs_http())
            rest_pids.add(int(result.as_numpy("OUTPUT0")[0]))
            client.close()
        for _ in range(60):
            with grpcclient.InferenceServerClient(server.grpc_url) as client:
                result = client.infer("pid", _inputs_grpc())
                grpc_pids.add(int(result.as_numpy("OUTPUT0")[0]))
        assert rest_pids == {parent, children[0].pid}
        assert grpc_pids == {parent, children[0].pid}
        metrics = server.metrics()
        assert _sum(metrics, "dh_events_total", trigger="oi", outcome="ok") == 120
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(30) == 0
        assert not psutil.pid_exists(children[0].pid)
