"""``processes: 2`` through the core's serving processes, behind a real Envoy: one
``/metrics`` counts the messages of both processes, one ``/ready``, one drain."""

from __future__ import annotations

import json
import os
import signal
import socket
import urllib.request

import psutil
from prometheus_client.parser import text_string_to_metric_families

SPEC_PROCESSES = """\
apiVersion: "nuclio.io/v1"
kind: NuclioFunction
metadata:
  name: extproc-processes
spec:
  handler: steer:handler
  processes: 2
  triggers:
    ext:
      kind: extproc
      maxWorkers: 8
      attributes:
        type: preprocessor
        port: {port}
        host: 127.0.0.1
"""


def _sum(text: str, name: str, **labels: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def _two_free_ports() -> int:
    for _ in range(200):
        base = 20000 + int.from_bytes(os.urandom(2), "big") % 10000
        with socket.socket() as one, socket.socket() as two:
            try:
                one.bind(("127.0.0.1", base))
                two.bind(("127.0.0.1", base + 1))
            except OSError:
                continue
            return base
    raise RuntimeError("no two consecutive free ports")


def _per_port(envoy) -> dict[str, int]:
    with urllib.request.urlopen(f"http://127.0.0.1:{envoy.admin}/clusters") as r:
        lines = r.read().decode().splitlines()
    return {
        line.split("::")[1]: int(line.rsplit("::", 1)[1])
        for line in lines
        if line.startswith("extproc::") and "::rq_total::" in line
    }


def test_processes_2_counts_every_message_on_the_one_metrics(fresh_stack):
    with fresh_stack() as s:
        processor = s.processor("wrapprocessor", processes=2, attributes="        processes: 2\n")
        envoy = s.envoy("wrapprocessor", [processor.port, processor.port + 1])
        with urllib.request.urlopen(f"http://127.0.0.1:{processor.health}/ready") as r:
            assert r.status == 200
        for _ in range(20):
            reply = envoy.request("POST", "/two", body=b"x", headers={"x-test": "upper"})
            assert json.loads(reply.body)["BODY"] == "X"
        per_port = _per_port(envoy)
        assert len(per_port) == 2
        assert all(count >= 5 for count in per_port.values()), per_port  # both processes
        calls = len(processor.calls())
        metrics = processor.metrics()
        assert _sum(metrics, "dh_events_total", trigger="ext", outcome="ok") == calls
        assert _sum(metrics, "dh_extproc_streams_total", trigger="ext") == 20
        assert _sum(metrics, "dh_extproc_messages_total", trigger="ext") >= 2 * 20
        children = psutil.Process(processor.proc.pid).children()
        assert len(children) == 1
        assert processor.stop(signal.SIGTERM) == 0
        assert not psutil.pid_exists(children[0].pid) or children[0].status() == "zombie"


def test_spec_processes_serves_one_port_each(fresh_stack):
    with fresh_stack() as s:
        port = _two_free_ports()
        processor = s.processor(
            "preprocessor", port=port, processes=2, yaml_text=SPEC_PROCESSES.format(port=port)
        )
        envoy = s.envoy("preprocessor", [port, port + 1])
        for _ in range(10):
            assert envoy.request("GET", "/").status == 200
        assert all(count >= 3 for count in _per_port(envoy).values())
        metrics = processor.metrics()
        assert _sum(metrics, "dh_extproc_streams_total", trigger="ext") == 10
