"""A real function behind the udp trigger: ``dh-serverless run``, real datagrams on 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dh_serverless.testing.processes import FunctionProcess, metric_sum

pytestmark = pytest.mark.timeout(60)

CLI = Path(sys.executable).with_name("dh-serverless")

HANDLER = """
import time

def handler(context, event):
    if event.body == b"who":
        return event.headers["Remote-Addr"]
    if event.body == b"fail":
        raise ValueError("no")
    if event.body == b"slow":
        time.sleep(1.0)
        return b"slow done"
    return event.body.upper()
"""


def write_function(folder: Path, attributes: str) -> Path:
    (folder / "main.py").write_text(HANDLER)
    config = folder / "function.yaml"
    config.write_text(
        "apiVersion: nuclio.io/v1\n"
        "kind: NuclioFunction\n"
        "metadata: {name: shout}\n"
        "spec:\n"
        "  handler: main:handler\n"
        "  triggers:\n"
        "    datagrams:\n"
        "      kind: udp\n"
        f"      attributes: {attributes}\n"
    )
    return config


def bound_port(function: FunctionProcess) -> int:
    """The one port the trigger bound (``port: 0`` takes any free one), once ``/ready``."""
    function.wait_ready()
    (port,) = function.ports()
    return port


@pytest.fixture
def client():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        yield sock


def ask(sock: socket.socket, port: int, data: bytes) -> bytes:
    sock.sendto(data, ("127.0.0.1", port))
    answer, sender = sock.recvfrom(70000)
    assert sender == ("127.0.0.1", port)
    return answer


def test_datagrams_are_answered_by_the_handler_and_drops_are_counted(tmp_path, client):
    config = write_function(tmp_path, "{host: 127.0.0.1, port: 0, maxDatagramBytes: 1000}")
    with FunctionProcess(config) as function:
        port = bound_port(function)
        function.wait_ready()
        assert ask(client, port, b"hello") == b"HELLO"
        assert ask(client, port, b"who") == f"127.0.0.1:{client.getsockname()[1]}".encode()
        client.sendto(b"fail", ("127.0.0.1", port))  # no answer for a failed event
        client.sendto(b"x" * 1001, ("127.0.0.1", port))  # over maxDatagramBytes: dropped
        assert ask(client, port, b"after") == b"AFTER"  # the function goes on, in order
        metrics = function.metrics_text()
        assert metric_sum(metrics, "dh_listener_dropped_total", reason="too_large") == 1
        assert metric_sum(metrics, "dh_events_total", trigger="datagrams", outcome="ok") == 3
        assert metric_sum(metrics, "dh_events_total", trigger="datagrams", outcome="error") == 1
        assert function.stop() == 0


def test_sigterm_lets_a_datagram_in_flight_answer(tmp_path, client):
    config = write_function(tmp_path, "{host: 127.0.0.1, port: 0}")
    with FunctionProcess(config) as function:
        port = bound_port(function)
        function.wait_ready()
        client.sendto(b"slow", ("127.0.0.1", port))
        time.sleep(0.3)  # the handler is running
        function.proc.terminate()
        assert client.recvfrom(100)[0] == b"slow done"
        assert function.proc.wait(20) == 0
        assert "CancelledError" not in function.log()


def test_a_taken_port_exits_1_naming_the_address(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        config = write_function(tmp_path, f"{{host: 127.0.0.1, port: {port}}}")
        done = subprocess.run(
            [str(CLI), "run", str(config), "--no-health"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port} (UDP): Address already in use" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_bad_attribute_fails_validation(tmp_path):
    config = write_function(tmp_path, "{maxDatagramBytes: 70000}")
    done = subprocess.run(
        [str(CLI), "validate", str(config)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert "spec.triggers.datagrams.attributes" in done.stderr
    assert "65507" in done.stderr
