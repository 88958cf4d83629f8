"""``spec.processes: N`` end to end: real processes, real signals, real clients."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dh_serverless.testing.processes import dh_command, free_port, stop_process

pytestmark = pytest.mark.timeout(120)

HANDLER = """
import os, time

def init_context(context):
    # a child (spawned by the parent) waits for the test's go-ahead when GATE is set
    gate = os.environ.get("GATE", "")
    with open("/proc/self/cmdline", "rb") as f:
        child = b"dh_serverless.core.serving_processes" in f.read()
    deadline = time.monotonic() + 60
    while gate and child and not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.05)

def handler(context, event):
    if event.path == "/slow":
        time.sleep(1.5)
    return {"pid": os.getpid()}
"""

FUNCTION = """
apiVersion: nuclio.io/v1
kind: NuclioFunction
metadata: {{name: procs}}
spec:
  handler: main:handler
  processes: {processes}
  gracefulShutdownTimeout: {grace}
  env:
    - {{name: GATE, value: "{gate}"}}
  triggers:
    web:
      kind: http
      numWorkers: 8
      attributes: {{port: {port}, host: 127.0.0.1}}
"""


class Served:
    """A ``dh-serverless run`` process, its http port and health port."""

    def __init__(
        self, tmp: Path, *, processes: int = 2, gate: str = "", grace: int = 10, args: tuple = ()
    ) -> None:
        (tmp / "main.py").write_text(HANDLER)
        self.port, self.health = free_port(), free_port()
        (tmp / "function.yaml").write_text(
            FUNCTION.format(processes=processes, port=self.port, gate=gate, grace=grace)
        )
        self.log = (tmp / "log.txt").open("w+")
        self.proc = subprocess.Popen(
            [dh_command(), "run", str(tmp / "function.yaml"), "--health-port", str(self.health),
             "--log-format", "text", *args],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=tmp,
        )  # fmt: skip

    def get(self, port: int, path: str, timeout: float = 10) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def ready(self) -> int:
        try:
            return self.get(self.health, "/ready", timeout=2)[0]
        except OSError:
            return 0

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.ready() != 200:
            assert self.proc.poll() is None, self.output()
            assert time.monotonic() < deadline, self.output()
            time.sleep(0.1)

    def metric(self, name: str, **labels: str) -> float:
        _, body = self.get(self.health, "/metrics")
        total = 0.0
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    total += sample.value
        return total

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def children(self) -> list[psutil.Process]:
        return psutil.Process(self.proc.pid).children()

    def stop(self) -> int:
        code = stop_process(self.proc, grace=30)
        self.log.close()
        return code


@pytest.fixture
def served(tmp_path):
    started: list[Served] = []

    def start(**kwargs) -> Served:
        s = Served(tmp_path, **kwargs)
        started.append(s)
        return s

    yield start
    for s in started:
        pids = [c.pid for c in s.children()] if s.proc.poll() is None else []
        s.stop()
        for pid in pids:
            if psutil.pid_exists(pid):
                os.kill(pid, signal.SIGKILL)


def test_two_processes_answer_and_one_metrics_counts_every_request(served):
    s = served()
    s.wait_ready()
    children = s.children()
    assert len(children) == 1
    pids = {s.proc.pid, children[0].pid}

    def call(_: int) -> int:
        # a new connection per request: the kernel spreads connections across processes
        status, body = s.get(s.port, "/")
        assert status == 200
        return int(json.loads(body)["pid"])

    with ThreadPoolExecutor(8) as pool:
        answered = list(pool.map(call, range(200)))
    assert set(answered) == pids, (set(answered), pids)
    assert s.metric("dh_events_total", trigger="web", outcome="ok") == 200
    assert s.metric("dh_workers", trigger="web") == 16  # 8 workers in each process
    # the interpreter's own families appear once (the parent's), not summed
    _, body = s.get(s.health, "/metrics")
    assert body.decode().count("\nprocess_start_time_seconds ") == 1
    # every line tells which process wrote it
    assert "INFO    [1] dh_serverless.runtime: function procs ready" in s.output()
    assert "INFO    [0] dh_serverless.runtime: function procs ready" in s.output()
    assert s.stop() == 0
    assert not psutil.pid_exists(children[0].pid)


def test_ready_waits_for_every_process(served, tmp_path):
    gate = tmp_path / "go"
    s = served(gate=str(gate))
    # the parent serves while the child still waits in init_context
    deadline = time.monotonic() + 30
    while True:
        try:
            status, body = s.get(s.port, "/")
        except OSError:
            status = 0
        if status == 200 and json.loads(body)["pid"] == s.proc.pid:
            break
        assert time.monotonic() < deadline, s.output()
        time.sleep(0.05)
    time.sleep(1)
    status, body = s.get(s.health, "/ready")
    assert (status, json.loads(body)["status"]) == (503, "starting"), body
    assert s.get(s.health, "/live")[0] == 200
    gate.touch()
    s.wait_ready()
    assert s.ready() == 200


def test_sigterm_answers_requests_in_flight_and_leaves_no_process(served):
    s = served()
    s.wait_ready()
    child = s.children()[0].pid
    results: list[tuple[int, int]] = []

    def slow() -> None:
        status, body = s.get(s.port, "/slow", timeout=20)
        results.append((status, json.loads(body)["pid"]))

    threads = [threading.Thread(target=slow) for _ in range(16)]
    for t in threads:
        t.start()
    time.sleep(0.5)  # every request is in a handler by now
    os.kill(s.proc.pid, signal.SIGTERM)
    for t in threads:
        t.join(30)
    assert s.proc.wait(30) == 0, s.output()
    assert [r[0] for r in results] == [200] * 16
    assert {r[1] for r in results} == {s.proc.pid, child}  # both processes drained theirs
    assert not psutil.pid_exists(child)


def test_sigterm_while_a_child_starts_stops_everything(served, tmp_path):
    gate = tmp_path / "go"
    s = served(gate=str(gate), grace=1)
    deadline = time.monotonic() + 30
    while len(s.children()) < 1 or s.ready() != 503:
        assert time.monotonic() < deadline, s.output()
        time.sleep(0.05)
    child = s.children()[0].pid
    os.kill(s.proc.pid, signal.SIGTERM)
    # the child never finishes init_context (no gate): the parent stops waiting for it,
    # drains, and kills it once gracefulShutdownTimeout (1 s) + 5 s have passed
    assert s.proc.wait(20) == 0, s.output()
    assert "serving process 1 (pid" in s.output()  # "... still running after 6.0s: killed"
    assert not psutil.pid_exists(child)


def test_a_child_that_dies_stops_the_function_with_exit_1(served):
    s = served()
    s.wait_ready()
    child = s.children()[0]
    child.kill()
    assert s.proc.wait(30) == 1
    assert "serving process 1 exited with code -9" in s.output()


def test_the_child_stops_when_the_parent_is_killed(served):
    s = served()
    s.wait_ready()
    child = s.children()[0]
    s.proc.kill()
    s.proc.wait(10)
    gone, _ = psutil.wait_procs([child], timeout=15)
    assert gone


def test_cli_processes_overrides_the_spec(served):
    s = served(processes=1, args=("--processes", "3"))
    s.wait_ready()
    assert len(s.children()) == 2
    assert s.metric("dh_workers", trigger="web") == 24


def test_processes_1_starts_no_child(served):
    s = served(processes=1)
    s.wait_ready()
    assert s.children() == []


def test_a_taken_port_fails_every_process_with_exit_1(tmp_path):
    import socket

    (tmp_path / "main.py").write_text(HANDLER)
    with socket.socket() as taken:  # no SO_REUSEPORT: nobody may share it
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        (tmp_path / "function.yaml").write_text(
            FUNCTION.format(processes=2, port=port, gate="", grace=10)
        )
        proc = subprocess.run(
            [dh_command(), "run", str(tmp_path / "function.yaml"), "--health-port", "0"],
            capture_output=True, text=True, timeout=60, cwd=tmp_path,
        )  # fmt: skip
    assert proc.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr


def test_a_trigger_without_serving_processes_is_refused(tmp_path):
    (tmp_path / "main.py").write_text(HANDLER)
    (tmp_path / "function.yaml").write_text(
        "spec:\n  handler: main:handler\n  processes: 2\n  triggers:\n"
        "    cron: {kind: cron, attributes: {interval: 1h}}\n"
    )
    proc = subprocess.run(
        [dh_command(), "run", str(tmp_path / "function.yaml"), "--health-port", "0"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "serves from one process only" in proc.stderr, proc.stderr


def test_a_job_ignores_processes(tmp_path):
    (tmp_path / "main.py").write_text(
        "import os\n\ndef handler(context, event):\n"
        "    open('ran.txt', 'a').write(f'{os.getpid()}\\n')\n    return 'done'\n"
    )
    (tmp_path / "function.yaml").write_text(
        "spec:\n  handler: main:handler\n  processes: 3\n  triggers:\n    once: {kind: job}\n"
    )
    proc = subprocess.run(
        [dh_command(), "run", str(tmp_path / "function.yaml"), "--processes", "2"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert len((tmp_path / "ran.txt").read_text().splitlines()) == 1  # one run, one process
    assert "serving processes" not in proc.stderr


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
