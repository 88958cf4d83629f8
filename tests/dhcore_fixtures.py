"""DH Core as the tests see it: its generated function.yaml files and a fake DH Core API.

The function.yaml texts are written the way DH Core's Jackson YAML mapper writes them:
every string double-quoted, indent 4, keys in no particular order, no ``metadata``,
``nuclio.io/v1beta1``, long strings wrapped with ``\\`` continuations.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiohttp import web

from dh_serverless.testing import free_port

ROOT = Path(__file__).resolve().parents[1]


def jackson_string(value: str, indent: int, width: int = 80) -> str:
    """A double-quoted YAML scalar as Jackson (SnakeYAML) writes it: lines past ``width``
    end with ``\\`` and go on at ``indent``, a leading space escaped as ``\\ ``."""
    quoted = json.dumps(value)
    # Escape sequences (\", \\, \u00e9) are never split.
    tokens = re.findall(r"\\u[0-9a-fA-F]{4}|\\.|.", quoted, flags=re.DOTALL)
    lines, line = [], ""
    for token in tokens:
        if len(line) + len(token) > width:
            lines.append(line + "\\")
            line = ""
        line += "\\ " if token == " " and not line else token
    lines.append(line)
    return ("\n" + " " * indent).join(lines)


def job_yaml(run: Mapping[str, Any], handler: str = "handler:handler") -> str:
    """DH Core's function.yaml for a python+job run: the whole Run as the event body."""
    body = jackson_string(json.dumps(run, separators=(",", ":")), 24)
    return (
        'apiVersion: "nuclio.io/v1beta1"\n'
        'kind: "NuclioFunction"\n'
        "spec:\n"
        "    maxReplicas: 1\n"
        f'    handler: "{handler}"\n'
        "    minReplicas: 1\n"
        '    runtime: "python"\n'
        "    triggers:\n"
        "        job:\n"
        '            kind: "job"\n'
        "            attributes:\n"
        "                event:\n"
        f"                    body: {body}\n"
    )


def serve_yaml(handler: str = "handler:handler", port: int | None = None) -> str:
    """DH Core's function.yaml for a python+serve run (``port``: the tests' only change)."""
    text = (
        'apiVersion: "nuclio.io/v1beta1"\n'
        "spec:\n"
        "    triggers:\n"
        "        http:\n"
        "            maxWorkers: 2\n"
        '            kind: "http"\n'
    )
    if port is not None:
        text += (
            "            attributes:\n"
            f"                port: {port}\n"
            '                host: "127.0.0.1"\n'
        )
    return text + (
        '    runtime: "python"\n'
        "    minReplicas: 1\n"
        f'    handler: "{handler}"\n'
        "    maxReplicas: 1\n"
        'kind: "NuclioFunction"\n'
    )


def openinference_yaml(run_id: str, rest_port: int = 8080, grpc_port: int = 9000) -> str:
    """DH Core's function.yaml for an openinference+serve run."""
    return (
        'kind: "NuclioFunction"\n'
        'apiVersion: "nuclio.io/v1beta1"\n'
        "spec:\n"
        '    runtime: "python"\n'
        '    handler: "handler:handler"\n'
        "    minReplicas: 1\n"
        "    maxReplicas: 1\n"
        "    triggers:\n"
        "        openinference:\n"
        "            maxWorkers: 4\n"
        '            kind: "openinference"\n'
        "            attributes:\n"
        f"                rest_port: {rest_port}\n"
        '                model_name: "mymodel"\n'
        f'                model_version: "{run_id}"\n'
        "                enable_grpc: true\n"
        f"                grpc_port: {grpc_port}\n"
        "                enable_rest: true\n"
        "                input_tensors:\n"
        '                -   datatype: "FP32"\n'
        '                    name: "input-0"\n'
        "                    shape:\n"
        "                    - 1\n"
        "                    - 4\n"
        "                output_tensors:\n"
        '                -   datatype: "FP32"\n'
        "                    shape:\n"
        "                    - 1\n"
    )


def guardrail_yaml(processor_type: str = "preprocessor", port: int = 5051) -> str:
    """DH Core's function.yaml for a guardrail+serve run (never any processingOptions)."""
    return (
        'apiVersion: "nuclio.io/v1beta1"\n'
        'kind: "NuclioFunction"\n'
        "spec:\n"
        '    handler: "handler:handler"\n'
        "    triggers:\n"
        "        extproc:\n"
        '            kind: "extproc"\n'
        "            maxWorkers: 4\n"
        "            attributes:\n"
        f'                type: "{processor_type}"\n'
        f"                port: {port}\n"
        "    maxReplicas: 1\n"
        '    runtime: "python"\n'
        "    minReplicas: 1\n"
    )


# ---------------------------------------------------------------------------
# A fake DH Core API on 127.0.0.1
# ---------------------------------------------------------------------------


class FakeDHCore:
    """The calls the DH SDK makes for a job or a serve, answered from ``runs``.

    ``requests`` records ``(method, path, json body or None)``; ``delay`` holds the first
    project lookup back that many seconds (to watch ``/live`` while ``init_context`` waits).
    """

    def __init__(self, project: str) -> None:
        self.project = project
        self.runs: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.authorizations: list[str] = []
        self.delay = 0.0
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def endpoint(self) -> str:
        """What ``DHCORE_ENDPOINT`` is set to."""
        return f"http://127.0.0.1:{self.port}"

    def puts(self) -> list[Any]:
        """Bodies of every PUT of a run."""
        return [
            body for method, path, body in self.requests if method == "PUT" and "/runs/" in path
        ]

    async def _handle(self, request: web.Request) -> web.Response:
        body = None
        if request.can_read_body:
            raw = await request.read()
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
        self.requests.append((request.method, request.path, body))
        if "Authorization" in request.headers:
            self.authorizations.append(request.headers["Authorization"])
        parts = request.path.strip("/").split("/")
        if parts[:3] == ["api", "v1", "projects"] and len(parts) == 4:
            if self.delay:
                delay, self.delay = self.delay, 0.0
                await asyncio.sleep(delay)
            return web.json_response(
                {"kind": "project", "name": parts[3], "id": parts[3], "project": parts[3]}
            )
        if parts[:3] == ["api", "v1", "-"] and len(parts) == 6 and parts[4] == "runs":
            run = self.runs.get(parts[5])
            if run is not None:
                if request.method == "PUT" and isinstance(body, dict):
                    run.update(body)
                return web.json_response(run)
        return web.json_response({"status": 404, "message": "No such EntityName"}, status=404)

    def start(self) -> None:
        """Serve on 127.0.0.1:``port`` in a thread of its own."""
        self._thread.start()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    async def _start(self) -> None:
        assert self._runner is not None
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def stop(self) -> None:
        """Stop serving and end the thread."""
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@contextmanager
def fake_dhcore(project: str) -> Iterator[FakeDHCore]:
    """A running :class:`FakeDHCore`, stopped on exit."""
    fake = FakeDHCore(project)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def run_entity(
    project: str,
    run_id: str,
    kind: str,
    *,
    handler: str = "main:myfunc",
    parameters: Mapping[str, Any] | None = None,
    init_function: str | None = None,
    init_parameters: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A Run entity as DH Core stores it (``kind`` is ``job`` or ``serve``)."""
    source: dict[str, Any] = {"source": "main.py", "handler": handler, "lang": "python"}
    if init_function:
        source["init_function"] = init_function
    return {
        "kind": f"python+{kind}:run",
        "id": run_id,
        "key": f"store://{project}/run/python+{kind}:run/{run_id}",
        "project": project,
        "metadata": {"project": project, "name": run_id},
        "spec": {
            "task": f"python+{kind}://{project}/myfunc:abc",
            "function": f"python://{project}/myfunc:abc",
            "source": source,
            "parameters": dict(parameters or {}),
            "inputs": {},
            "init_parameters": dict(init_parameters or {}),
        },
        "status": {"state": "RUNNING"},
    }


def http(url: str, data: bytes | None = None, timeout: float = 10) -> tuple[int, bytes]:
    """Status and body of a GET (or POST of ``data``); OSError while nothing listens."""
    request = urllib.request.Request(url, data=data)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_until(predicate: Any, timeout: float = 60, what: str = "condition") -> None:
    """Poll ``predicate`` every 50 ms; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def stop(process: subprocess.Popen[str], timeout: float = 20) -> tuple[str, str]:
    """SIGTERM ``process`` if still running, wait, and return its output (kill at timeout)."""
    if process.poll() is None:
        process.terminate()
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
    return out, err


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without pip or Python settings that leak into venvs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(extra)
    return env
