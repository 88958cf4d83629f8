"""Every listener closes connections that send nothing, half a request head, half a body,
or sit idle after an answer (issue 22): the http trigger, openinference REST, the mjpeg
and websocket sinks' HTTP servers and the health server, with the timeouts set by
``DH_SERVERLESS_IDLE_TIMEOUT`` / ``DH_SERVERLESS_READ_TIMEOUT``.

Also the http trigger's error answers: capped echoes of bad input, an HTTP/1.1 status
line whatever the request line says, invalid header names and circular results from a
handler."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import yaml

from dh_serverless.testing.processes import HOST, RunningFunction, free_port

pytestmark = [pytest.mark.timeout(120), pytest.mark.asyncio(loop_scope="module")]

HANDLER = """
def handler(context, event):
    what = event.path
    if what == "/bad-header":
        return context.Response(body=b"x", headers={"Bad Name": "v"}, status_code=200)
    if what == "/circular":
        loop = {}
        loop["self"] = loop
        return loop
    return "ok"
"""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def function(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningFunction]:
    folder = tmp_path_factory.mktemp("timeouts")
    (folder / "main.py").write_text(HANDLER)
    ports = {name: free_port() for name in ("http", "mjpeg", "ws", "oi")}
    http = {"host": HOST, "port": ports["http"]}
    config = {
        "apiVersion": "nuclio.io/v1",
        "kind": "NuclioFunction",
        "metadata": {"name": "timeouts"},
        "spec": {
            "handler": "main:handler",
            "triggers": {
                "web": {"kind": "http", "attributes": http},
                "frames": {
                    "kind": "http",
                    "attributes": {
                        "host": HOST,
                        "port": free_port(),
                        "sink": {
                            "kind": "mjpeg",
                            "attributes": {"host": HOST, "port": ports["mjpeg"]},
                        },
                    },
                },
                "ws": {
                    "kind": "http",
                    "attributes": {
                        "host": HOST,
                        "port": free_port(),
                        "sink": {
                            "kind": "websocket",
                            "attributes": {"mode": "server", "host": HOST, "port": ports["ws"]},
                        },
                    },
                },
                "oi": {
                    "kind": "openinference",
                    "attributes": {
                        "model_name": "m",
                        "host": HOST,
                        "rest_port": ports["oi"],
                        "enable_grpc": False,
                    },
                },
            },
        },
    }
    path = folder / "function.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    env = {"DH_SERVERLESS_IDLE_TIMEOUT": "1", "DH_SERVERLESS_READ_TIMEOUT": "1s"}
    async with RunningFunction(path, env=env) as running:
        await running.wait_ready(60)
        running.ports = {**ports, "health": running.health_port}  # type: ignore[attr-defined]
        yield running


def closed_within(sock: socket.socket, seconds: float) -> float:
    """Read until the server closes; return how long that took (fail after ``seconds``)."""
    start = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        pytest.fail(f"the connection was still open after {seconds}s")
    except ConnectionResetError:
        pass
    return time.monotonic() - start


LISTENERS = ["http", "oi", "mjpeg", "ws", "health"]


@pytest.mark.parametrize("listener", LISTENERS)
@pytest.mark.parametrize(
    "sent",
    [b"", b"GET / HTTP/1.1\r\nHost: x\r\n", b"GE"],
    ids=["nothing", "half-a-header", "half-a-request-line"],
)
async def test_a_connection_without_a_whole_request_head_is_closed(function, listener, sent):
    with socket.create_connection((HOST, function.ports[listener]), timeout=5) as sock:
        sock.sendall(sent)
        assert closed_within(sock, 8) < 8


@pytest.mark.parametrize("listener", ["http", "oi"])
async def test_a_stalled_request_body_is_closed(function, listener):
    path = b"/v2/models/m/infer" if listener == "oi" else b"/"
    with socket.create_connection((HOST, function.ports[listener]), timeout=5) as sock:
        sock.sendall(b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
        assert closed_within(sock, 8) < 8
    # the function still serves
    with socket.create_connection((HOST, function.ports["http"]), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("listener", ["http", "oi", "health"])
async def test_an_idle_keep_alive_connection_is_closed(function, listener):
    path = {"http": b"/", "oi": b"/v2/health/live", "health": b"/live"}[listener]
    with socket.create_connection((HOST, function.ports[listener]), timeout=5) as sock:
        sock.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        assert closed_within(sock, 8) < 8


# ---------------------------------------------------------------------------
# The http trigger's error answers
# ---------------------------------------------------------------------------


def exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection((HOST, port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
        return answer


async def test_a_bad_request_is_not_echoed_in_full(function):
    junk = b"x" * 100_000
    answer = exchange(function.ports["http"], b"GET / HTTP/1.1\r\nHost: x\r\nBad\x01" + junk)
    assert answer.startswith(b"HTTP/1.1 4"), answer[:200]
    assert len(answer) < 2000


@pytest.mark.parametrize("version", [b"HTTP/2.0", b"HTTP/0.9", b"HTTP/1.9"])
async def test_the_status_line_is_always_http_1_1(function, version):
    answer = exchange(function.ports["http"], b"GET / " + version + b"\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]


async def test_an_invalid_header_name_from_the_handler_is_a_clear_500(function):
    answer = exchange(
        function.ports["http"], b"GET /bad-header HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 500"), answer[:300]
    assert b"Bad Name" not in head
    assert "invalid response header 'Bad Name'" in json.loads(body)["error"]


async def test_a_circular_result_is_a_clear_500(function):
    answer = exchange(
        function.ports["http"], b"GET /circular HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 500"), answer[:300]
    assert b"contains itself" in body
    assert b"RecursionError" not in body


async def test_a_bad_timeout_setting_is_a_configuration_error(tmp_path: Path):
    (tmp_path / "main.py").write_text(HANDLER)
    config = {
        "apiVersion": "nuclio.io/v1",
        "kind": "NuclioFunction",
        "metadata": {"name": "t"},
        "spec": {"handler": "main:handler",
                 "triggers": {"web": {"kind": "http",
                                      "attributes": {"host": HOST, "port": free_port()}}}},
    }  # fmt: skip
    path = tmp_path / "function.yaml"
    path.write_text(yaml.safe_dump(config))
    async with RunningFunction(path, env={"DH_SERVERLESS_READ_TIMEOUT": "soon"}) as running:
        for _ in range(200):
            if running.proc.poll() is not None:
                break
            await asyncio.sleep(0.05)
        assert running.proc.returncode == 2, running.log()
        assert "DH_SERVERLESS_READ_TIMEOUT='soon'" in running.log()
