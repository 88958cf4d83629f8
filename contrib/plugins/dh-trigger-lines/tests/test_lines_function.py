"""A real function behind the lines trigger: ``dh-serverless run``, real TCP on 127.0.0.1."""

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
    if event.body == b"fail":
        raise ValueError("no")
    if event.body == b"slow":
        time.sleep(1.0)
        return "slow done"
    if event.body == b"two lines":
        return "one\\ntwo"
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
        "    console:\n"
        "      kind: lines\n"
        f"      attributes: {attributes}\n"
    )
    return config


def bound_port(function: FunctionProcess) -> int:
    """The one port the trigger bound (``port: 0`` takes any free one), once ``/ready``."""
    function.wait_ready()
    (port,) = function.ports()
    return port


def connect(port: int) -> tuple[socket.socket, object]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return sock, sock.makefile("rb")


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(100) == b""
    except ConnectionResetError:
        return True


def test_lines_are_answered_in_order_with_errors_as_lines(tmp_path):
    config = write_function(tmp_path, "{host: 127.0.0.1, port: 0, maxLineBytes: 100}")
    with FunctionProcess(config) as function:
        port = bound_port(function)
        function.wait_ready()
        sock, lines = connect(port)
        sock.sendall(b"hello\r\nfail\n" + b"x" * 500 + b"\ntwo lines\nworld")
        sock.shutdown(socket.SHUT_WR)  # a last line without a newline is a line too
        assert lines.readline() == b"HELLO\n"
        assert lines.readline().startswith(b"ERROR 500 ")
        assert lines.readline() == b"ERROR 413 line longer than maxLineBytes\n"
        assert lines.readline() == b"one two\n"
        assert lines.readline() == b"WORLD\n"
        assert lines.readline() == b""  # then the server closes its side
        sock.close()
        metrics = function.metrics_text()
        assert metric_sum(metrics, "dh_listener_dropped_total", reason="too_large") == 1
        assert metric_sum(metrics, "dh_events_total", trigger="console", outcome="ok") == 3
        assert function.stop() == 0


def test_connection_limit_and_idle_timeout(tmp_path):
    attributes = "{host: 127.0.0.1, port: 0, maxConnections: 1, idleTimeout: 1s}"
    config = write_function(tmp_path, attributes)
    with FunctionProcess(config) as function:
        port = bound_port(function)
        function.wait_ready()
        first, lines = connect(port)
        first.sendall(b"a\n")
        assert lines.readline() == b"A\n"
        second, _ = connect(port)
        assert closed_by_server(second)  # over maxConnections: closed at once
        second.close()
        started = time.monotonic()
        assert closed_by_server(first)  # silent for idleTimeout: closed
        assert time.monotonic() - started < 8
        first.close()
        metrics = function.metrics_text()
        assert metric_sum(metrics, "dh_listener_dropped_total", reason="max_connections") == 1
        assert metric_sum(metrics, "dh_listener_dropped_total", reason="idle_timeout") == 1
        assert metric_sum(metrics, "dh_listener_active", transport="tcp") == 0
        assert function.stop() == 0


def test_sigterm_closes_idle_connections_and_answers_the_busy_one(tmp_path):
    config = write_function(tmp_path, "{host: 127.0.0.1, port: 0}")
    with FunctionProcess(config) as function:
        port = bound_port(function)
        function.wait_ready()
        idle, idle_lines = connect(port)
        idle.sendall(b"hi\n")
        assert idle_lines.readline() == b"HI\n"
        busy, busy_lines = connect(port)
        busy.sendall(b"slow\n")
        time.sleep(0.3)  # the handler is running
        function.proc.terminate()
        assert idle_lines.readline() == b""  # closed at once
        assert busy_lines.readline() == b"slow done\n"  # answered
        assert busy_lines.readline() == b""  # then closed
        assert function.proc.wait(20) == 0
        log = function.log()
    assert "CancelledError" not in log
    assert "Traceback" not in log
    idle.close()
    busy.close()


def test_a_taken_port_exits_1_naming_the_address(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_function(tmp_path, f"{{host: 127.0.0.1, port: {port}}}")
        done = subprocess.run(
            [str(CLI), "run", str(config), "--no-health"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port} (TCP): Address already in use" in done.stderr
    assert "Traceback" not in done.stderr
