"""Operating the runtime, end to end: real ``dh-serverless run`` processes, real signals.

Every test starts the command on 127.0.0.1 ports (the trigger's and the health server's),
talks to it only over HTTP on 127.0.0.1 and asserts what a user or an operator sees:
status codes and bodies, ``/live`` ``/ready`` ``/metrics``, the exit code, the log and
the process table. The ``dh_run`` fixture stops whatever a test started (SIGTERM, then
SIGKILL) and fails the test if any process the function spawned outlives it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dh_serverless.testing import free_port
from dh_serverless.testing.processes import FunctionProcess

pytestmark = pytest.mark.timeout(60)

HOST = "127.0.0.1"
DH = shutil.which("dh-serverless", path=str(Path(sys.executable).parent)) or "dh-serverless"
MARKER = "DH_OPERATIONS_TEST_RUN"  #: set in each server's environment to find its processes
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy


def http(
    url: str, data: bytes | None = None, *, method: str | None = None, timeout: float = 10
) -> tuple[int, dict[str, str], bytes]:
    """One request without a proxy: (status, headers, body), also for 4xx/5xx answers."""
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with _DIRECT.open(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), exc.read()


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, step: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


class Server:
    """One ``dh-serverless run`` process and what a test can observe of it."""

    def __init__(self, folder: Path, port: int, health_port: int, extra: list[str]) -> None:
        self.folder = folder
        self.port = port
        self.health_port = health_port
        self.marker = uuid.uuid4().hex
        self.log_path = folder / "stderr.log"
        self.function = FunctionProcess(
            folder / "function.yaml", args=extra, env={MARKER: self.marker},
            cwd=Path.cwd(), log_path=self.log_path, health_port=health_port,
        )  # fmt: skip
        self.proc = self.function.proc
        self.ps = psutil.Process(self.proc.pid)

    # -- what a client sees ------------------------------------------------

    def url(self, path: str = "/") -> str:
        return f"http://{HOST}:{self.port}{path}"

    def health(self, path: str, timeout: float = 5) -> tuple[int, dict[str, Any]]:
        status, _, body = http(f"http://{HOST}:{self.health_port}{path}", timeout=timeout)
        return status, json.loads(body)

    def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        status, _, body = http(f"http://{HOST}:{self.health_port}/metrics")
        assert status == 200
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(body.decode())
            for sample in family.samples
        }

    def metric(self, name: str, **labels: str) -> float:
        """The sum of ``name``'s samples whose labels include ``labels``."""
        wanted = set(labels.items())
        return sum(v for (n, ls), v in self.metrics().items() if n == name and wanted <= ls)

    def log(self) -> str:
        return self.function.log()

    def messages(self) -> list[str]:
        """The ``message`` of every JSON log line."""
        out = []
        for line in self.log().splitlines():
            try:
                out.append(json.loads(line)["message"])
            except (ValueError, KeyError, TypeError):
                continue
        return out

    # -- the process table -------------------------------------------------

    def related(self) -> list[psutil.Process]:
        """Every live process started for this server (found by the marker it inherited)."""
        found = []
        for proc in psutil.process_iter():
            try:
                if proc.pid != os.getpid() and proc.environ().get(MARKER) == self.marker:
                    found.append(proc)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return found

    def survivors(self, settle: float = 3.0) -> list[str]:
        """What still runs ``settle`` seconds after the server exited (it should be nothing:
        helpers such as multiprocessing's resource tracker take a moment to see the exit)."""
        _, alive = psutil.wait_procs(self.related(), timeout=settle)
        described = []
        for proc in alive:
            try:
                described.append(f"{proc.pid} {' '.join(proc.cmdline())}")
            except psutil.NoSuchProcess:
                continue
        return described

    def worker_pids(self) -> set[int]:
        """The spawned worker processes (children that are not multiprocessing helpers)."""
        pids = set()
        for child in self.ps.children():
            try:
                cmdline = " ".join(child.cmdline())
            except psutil.NoSuchProcess:
                continue
            if "multiprocessing.spawn" in cmdline or "spawn_main" in cmdline:
                pids.add(child.pid)
        return pids

    # -- lifecycle -----------------------------------------------------------

    def wait_ready(self, timeout: float = 20) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                pytest.fail(f"dh-serverless exited {self.proc.returncode}:\n{self.log()}")
            try:
                return self.health("/ready", timeout=1)[0] == 200
            except OSError:
                return False

        wait_for(ready, timeout, "/ready 200", step=0.05)

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"dh-serverless still running {timeout}s later:\n{self.log()}")

    def cleanup(self) -> list[str]:
        """Stop the server and everything it started; describe any survivor."""
        self.function.close()  # SIGTERM, SIGKILL 15 s later
        described = self.survivors(settle=5)
        for proc in self.related():
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                continue
        return described


Start = Callable[..., Server]


@pytest.fixture
def dh_run(tmp_path: Path) -> Iterator[Start]:
    """``dh_run(code, spec=..., trigger=..., wait=True)`` starts ``dh-serverless run``.

    ``code`` becomes ``main.py`` (handler ``main:handler``); ``spec`` adds keys to ``spec``,
    ``trigger`` to the http trigger. Every server is stopped afterwards, and the test fails
    if a process it started survives.
    """
    servers: list[Server] = []

    def start(
        code: str,
        *,
        spec: dict[str, Any] | None = None,
        trigger: dict[str, Any] | None = None,
        wait: bool = True,
        args: tuple[str, ...] = (),
    ) -> Server:
        folder = tmp_path / f"fn{len(servers)}"
        folder.mkdir()
        (folder / "main.py").write_text(textwrap.dedent(code))
        port = free_port()
        config = {
            "apiVersion": "nuclio.io/v1",
            "kind": "NuclioFunction",
            "metadata": {"name": f"ops{len(servers)}"},
            "spec": {
                "handler": "main:handler",
                **(spec or {}),
                "triggers": {
                    "http": {
                        "kind": "http",
                        **(trigger or {}),
                        "attributes": {"host": HOST, "port": port},
                    }
                },
            },
        }
        (folder / "function.yaml").write_text(json.dumps(config, indent=2))  # JSON is YAML
        server = Server(folder, port, free_port(), list(args))
        servers.append(server)
        if wait:
            server.wait_ready()
        return server

    try:
        yield start
    finally:
        survivors = [line for server in servers for line in server.cleanup()]
    assert not survivors, f"processes outlived their server: {survivors}"


def stop_cleanly(server: Server, within: float) -> float:
    """SIGTERM; assert exit 0 within ``within`` seconds and no survivor; return the time."""
    start = time.monotonic()
    server.signal(signal.SIGTERM)
    code = server.wait(within + 10)
    elapsed = time.monotonic() - start
    assert code == 0, server.log()
    assert elapsed < within, f"exit took {elapsed:.1f}s:\n{server.log()}"
    assert server.survivors() == []
    return elapsed


def pid_lines(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


# ---------------------------------------------------------------------------
# 1. kill -9 of a worker process mid-request
# ---------------------------------------------------------------------------

KILL_CODE = """
import os, pathlib, time

HERE = pathlib.Path(__file__).parent

def init_context(context):
    with open(HERE / "inits", "a") as f:
        f.write(f"{os.getpid()}\\n")

def handler(context, event):
    if event.path == "/hold":
        (HERE / "held").write_text(str(os.getpid()))
        time.sleep(30)
    if event.path == "/work":
        time.sleep(0.5)
    return str(os.getpid())
"""


def test_kill_9_of_a_worker_mid_request(dh_run: Start) -> None:
    server = dh_run(KILL_CODE, spec={"workerKind": "process"}, trigger={"maxWorkers": 2})
    workers = server.worker_pids()
    assert len(workers) == 2
    assert set(pid_lines(server.folder / "inits")) == workers

    with ThreadPoolExecutor(2) as pool:
        held = pool.submit(http, server.url("/hold"), timeout=20)
        victim = int(wait_for(lambda: _read(server.folder / "held"), 10, "the held event"))
        assert victim in workers
        other = pool.submit(http, server.url("/work"), timeout=20)  # on the other worker
        time.sleep(0.1)
        started = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        status, headers, body = held.result()
        assert time.monotonic() - started < 3
        assert status == 500
        assert headers["Content-Type"] == "application/json"
        error = json.loads(body)["error"]
        assert re.fullmatch(
            r"worker process [01] died while handling the event \(exit code -9\)", error
        )
        status, _, body = other.result()
        assert status == 200
        assert int(body) in workers - {victim}

    # The next events are served, and capacity comes back: two events at once run on
    # two live worker processes, one of them new.
    for _ in range(3):
        assert http(server.url("/"))[0] == 200
    wait_for(lambda: len(pid_lines(server.folder / "inits")) == 3, 15, "a replacement worker")
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: http(server.url("/work")), range(2)))
    pids = {int(body) for status, _, body in answers if status == 200}
    assert len(pids) == 2
    assert victim not in pids
    assert pids == server.worker_pids()

    assert server.metric("dh_worker_restarts_total", reason="lost") == 1
    assert server.metric("dh_events_total", outcome="lost") == 1
    assert server.metric("dh_workers") == 2
    stop_cleanly(server, within=5)


def _read(path: Path) -> str | None:
    try:
        return path.read_text() or None
    except FileNotFoundError:
        return None


# ---------------------------------------------------------------------------
# 2. a hung handler vs eventTimeout
# ---------------------------------------------------------------------------

HANG_CODE = """
import os, pathlib, time

HERE = pathlib.Path(__file__).parent

def init_context(context):
    with open(HERE / "inits", "a") as f:
        f.write(f"{os.getpid()}\\n")

def handler(context, event):
    if event.path == "/hang":
        time.sleep(30)
    return str(os.getpid())
"""


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_hung_handler_gets_504_and_capacity_comes_back(dh_run: Start, kind: str) -> None:
    server = dh_run(
        HANG_CODE,
        spec={"workerKind": kind, "eventTimeout": "500ms"},
        trigger={"maxWorkers": 1},
    )
    (first_pid,) = pid_lines(server.folder / "inits")
    started = time.monotonic()
    status, headers, body = http(server.url("/hang"))
    elapsed = time.monotonic() - started
    assert status == 504
    assert headers["Content-Type"] == "application/json"
    assert "eventTimeout" in json.loads(body)["error"]
    assert 0.4 < elapsed < 1.5

    # maxWorkers is 1: this is served only if the hung worker was replaced.
    status, _, body = http(server.url("/"))
    assert status == 200
    if kind == "process":
        assert int(body) != first_pid
        assert not psutil.pid_exists(first_pid) or psutil.Process(first_pid).status() == "zombie"
        inits = pid_lines(server.folder / "inits")
        assert inits == [first_pid, int(body)]  # init_context ran again, in the new process
    else:
        assert int(body) == server.proc.pid
        assert len(pid_lines(server.folder / "inits")) == 2  # init_context ran for the new one
    assert server.metric("dh_events_total", outcome="timeout") == 1
    assert server.metric("dh_worker_restarts_total", reason="lost") == 1
    # The hung handler (a thread still sleeping, for thread workers) must not hold up exit.
    stop_cleanly(server, within=5)
    if kind == "thread":
        assert any("still running a handler" in m for m in server.messages())


# ---------------------------------------------------------------------------
# 3. a flood at 10x capacity
# ---------------------------------------------------------------------------

FLOOD_CODE = """
import time

def handler(context, event):
    time.sleep(0.1)
    return "done"
"""


async def _flood(url: str, total: int, concurrency: int) -> tuple[Counter[int], list[str], bytes]:
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    busy_body = b""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)
    timeout = aiohttp.ClientTimeout(total=20)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def client() -> None:
            nonlocal busy_body
            while not queue.empty():
                queue.get_nowait()
                try:
                    async with session.post(url, data=b"x" * 100) as response:
                        body = await response.read()
                        statuses[response.status] += 1
                        if response.status == 503:
                            busy_body = body
                except (aiohttp.ClientError, TimeoutError) as exc:
                    failures.append(f"{type(exc).__name__}: {exc}")

        await asyncio.gather(*(client() for _ in range(concurrency)))
    return statuses, failures, busy_body


def test_flood_at_ten_times_capacity(dh_run: Start) -> None:
    server = dh_run(
        FLOOD_CODE, trigger={"maxWorkers": 2, "workerAvailabilityTimeoutMilliseconds": 200}
    )
    asyncio.run(_flood(server.url("/"), 20, 2))  # warm up: allocations of a first request
    before_ok = server.metric("dh_events_total", outcome="ok")
    rss_before = server.ps.memory_info().rss

    statuses, failures, busy_body = asyncio.run(_flood(server.url("/"), 200, 20))

    assert failures == []
    assert sum(statuses.values()) == 200
    assert set(statuses) <= {200, 503}, statuses
    assert statuses[503] > 0, statuses
    assert statuses[200] > 0, statuses
    assert json.loads(busy_body) == {
        "error": "all workers stayed busy for workerAvailabilityTimeout"
    }
    assert server.metric("dh_events_total", outcome="busy") == statuses[503]
    assert server.metric("dh_events_total", outcome="ok") - before_ok == statuses[200]
    assert server.metric("dh_workers_busy") == 0
    rss_after = server.ps.memory_info().rss
    assert rss_after < 1.5 * rss_before + 50 * 2**20, (rss_before, rss_after)
    stop_cleanly(server, within=5)


# ---------------------------------------------------------------------------
# 4. SIGTERM during in-flight requests
# ---------------------------------------------------------------------------

DRAIN_CODE = """
import asyncio, pathlib

HERE = pathlib.Path(__file__).parent

def note(what):
    with open(HERE / "callbacks", "a") as f:
        f.write(what + "\\n")

def init_context(context):
    context.platform.set_drain_callback(lambda: note("drain " + context.worker_id))
    context.platform.set_termination_callback(lambda: note("terminate " + context.worker_id))

async def handler(context, event):
    await asyncio.sleep(3)
    return "finished"
"""


async def _in_flight(url: str, count: int, started: threading.Event) -> list[tuple[int, bytes]]:
    connector = aiohttp.TCPConnector(limit=0, force_close=True)  # one connection each
    timeout = aiohttp.ClientTimeout(total=20)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one() -> tuple[int, bytes]:
            async with session.get(url) as response:
                return response.status, await response.read()

        tasks = [asyncio.ensure_future(one()) for _ in range(count)]
        started.set()
        return await asyncio.gather(*tasks)


def test_sigterm_lets_in_flight_requests_finish(dh_run: Start) -> None:
    server = dh_run(DRAIN_CODE, trigger={"maxWorkers": 20})
    started = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        answers = pool.submit(asyncio.run, _in_flight(server.url("/"), 20, started))
        started.wait(5)
        wait_for(lambda: server.metric("dh_workers_busy") == 20, 5, "20 requests in flight")
        sent = time.monotonic()
        server.signal(signal.SIGTERM)

        # /ready turns 503 at once, while the 20 requests still run.
        def draining() -> bool:
            status, body = server.health("/ready")
            return status == 503 and body == {"status": "draining"}

        wait_for(draining, 2, "/ready 503 draining")
        assert time.monotonic() - sent < 2.5  # the requests (3 s each) are still in flight

        # A new connection is refused, or answered 503.
        assert _new_request(server.url("/")) in (
            "refused",
            (503, {"error": "the function is shutting down"}),
        )

        results = answers.result(timeout=15)
    assert results == [(200, b"finished")] * 20
    assert server.wait(10) == 0
    assert server.survivors() == []

    notes = (server.folder / "callbacks").read_text().splitlines()
    assert sorted(n for n in notes if n.startswith("drain")) == sorted(
        f"drain {i}" for i in range(20)
    )
    assert sorted(n for n in notes if n.startswith("terminate")) == sorted(
        f"terminate {i}" for i in range(20)
    )
    assert notes.index("terminate 0") > max(notes.index(f"drain {i}") for i in range(20))
    messages = server.messages()
    assert "received SIGTERM: shutting down" in messages
    assert "function ops0 stopped" in messages


def _new_request(url: str) -> str | tuple[int, Any]:
    """``"refused"`` when the connection is refused, or reset before any answer (it reached
    the listener's backlog just before the listener closed: no request was read), else the
    status and the JSON body."""
    try:
        status, _, body = http(url, timeout=5)
    except (ConnectionRefusedError, ConnectionResetError):
        return "refused"
    except urllib.error.URLError as exc:
        refused = isinstance(exc.reason, ConnectionRefusedError | ConnectionResetError)
        return "refused" if refused else repr(exc)
    return status, json.loads(body)


SLOW_SYNC = """
import time

def handler(context, event):
    time.sleep(10)
    return "late"
"""
SLOW_CODE = {
    "async": """
import asyncio

async def handler(context, event):
    await asyncio.sleep(10)
    return "late"
""",
    "thread": SLOW_SYNC,
    "process": SLOW_SYNC,
}


@pytest.mark.parametrize("kind", ["async", "thread", "process"])
def test_grace_period_cancels_what_is_still_running(dh_run: Start, kind: str) -> None:
    server = dh_run(
        SLOW_CODE[kind],
        spec={"gracefulShutdownTimeout": 1, **({"workerKind": kind} if kind != "async" else {})},
        trigger={"maxWorkers": 1},
    )
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(_answer_or_error, server.url("/"))
        wait_for(lambda: server.metric("dh_workers_busy") == 1, 5, "the request in flight")
        elapsed = stop_cleanly(server, within=3.5)
        assert elapsed > 0.9  # it did wait for the grace period
        seen = answer.result(timeout=5)
    # The client is not left hanging: the http trigger cancels the request's task, so its
    # connection closes without an answer.
    assert seen in ("RemoteDisconnected", "ConnectionResetError"), seen
    messages = server.messages()
    assert "http trigger http: cancelling 1 request(s) still running after 1.0s" in messages
    if kind == "thread":  # a thread cannot be cancelled: the process exits without it
        assert "not waiting for thread dh-worker-http-0: it is still running a handler" in messages


def _answer_or_error(url: str) -> tuple[int, bytes] | str:
    try:
        status, _, body = http(url, timeout=15)
    except (OSError, urllib.error.URLError) as exc:
        return type(exc).__name__
    return status, body


# ---------------------------------------------------------------------------
# 5. /ready transitions and /metrics values
# ---------------------------------------------------------------------------

READY_CODE = """
import time

def init_context(context):
    time.sleep(2)

def handler(context, event):
    return event.body[::-1] + b"!"
"""


def test_ready_transitions_and_metrics_move(dh_run: Start) -> None:
    server = dh_run(READY_CODE, trigger={"maxWorkers": 2}, wait=False)
    seen: list[tuple[int, int, str]] = []

    def poll() -> bool:
        assert server.proc.poll() is None, server.log()
        try:
            live, _ = server.health("/live", timeout=1)
            ready, body = server.health("/ready", timeout=1)
        except OSError:
            return False  # not listening yet
        seen.append((live, ready, body["status"]))
        return ready == 200

    wait_for(poll, 15, "/ready 200", step=0.05)
    assert (200, 503, "starting") in seen, seen
    assert seen[-1] == (200, 200, "ready")
    assert {s for s in seen if s[1] == 503} <= {(200, 503, "starting")}

    before = server.metrics()
    bodies = [b"a" * n for n in (1, 10, 100, 1000, 10_000)]
    sent = 0
    for body in bodies:
        status, _, answer = http(server.url("/"), body)
        assert (status, answer) == (200, body[::-1] + b"!")
        sent += len(answer)
    after = server.metrics()

    def moved(name: str, **labels: str) -> float:
        key = (name, frozenset({"trigger": "http", "kind": "http", **labels}.items()))
        return after[key] - before[key]

    assert moved("dh_events_total", outcome="ok") == len(bodies)
    for outcome in ("error", "busy", "timeout", "lost", "shutdown"):
        assert moved("dh_events_total", outcome=outcome) == 0
    assert moved("dh_event_bytes_received_total") == sum(map(len, bodies))
    assert moved("dh_event_bytes_sent_total") == sent
    assert moved("dh_handler_duration_seconds_count") == len(bodies)
    assert moved("dh_handler_duration_seconds_bucket", le="+Inf") == len(bodies)
    assert moved("dh_handler_duration_seconds_sum") > 0
    assert after[("dh_workers", frozenset({"trigger": "http", "kind": "http"}.items()))] == 2
    assert after[("dh_workers_busy", frozenset({"trigger": "http", "kind": "http"}.items()))] == 0
    stop_cleanly(server, within=5)


# ---------------------------------------------------------------------------
# 6. a handler that cannot start
# ---------------------------------------------------------------------------

BROKEN = {
    "import-error": (
        "import not_a_module_anywhere\n\ndef handler(context, event):\n    return 'x'\n",
        {},
        "error: importing handler module 'main' raised ModuleNotFoundError: "
        "No module named 'not_a_module_anywhere'",
    ),
    "syntax-error": (
        "def handler(context, event)\n    return 'x'\n",
        {},
        "error: importing handler module 'main' raised SyntaxError: ",
    ),
    "init-context-thread": (
        "def init_context(context):\n    raise RuntimeError('no database')\n\n"
        "def handler(context, event):\n    return 'x'\n",
        {},
        "error: init_context of worker 0 raised RuntimeError: no database",
    ),
    "init-context-process": (
        "def init_context(context):\n    raise RuntimeError('no database')\n\n"
        "def handler(context, event):\n    return 'x'\n",
        {"workerKind": "process"},
        "error: init_context of worker 0 raised RuntimeError: no database",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_handler_that_cannot_start_exits_with_one_clear_line(dh_run: Start, case: str) -> None:
    code, spec, expected = BROKEN[case]
    started = time.monotonic()
    server = dh_run(code, spec=spec, trigger={"maxWorkers": 1}, wait=False)
    returncode = server.wait(10)
    assert time.monotonic() - started < 10
    log = server.log()
    assert returncode == 1, log
    errors = [line for line in log.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, log
    assert errors[0].startswith(expected), log
    assert "Traceback" not in log
    assert server.survivors() == []


# ---------------------------------------------------------------------------
# 7. spec.env secrets never reach the log, even at debug level
# ---------------------------------------------------------------------------

SECRET_CODE = """
import os

def init_context(context):
    context.logger.info_with("configured", has_password=bool(os.environ["DB_PASSWORD"]))

def handler(context, event):
    if event.path == "/fail":
        raise RuntimeError("database refused the login")
    return "password length %d" % len(os.environ["DB_PASSWORD"])
"""


def test_spec_env_secrets_are_never_logged(dh_run: Start) -> None:
    secret = "s3cr3t-" + uuid.uuid4().hex
    server = dh_run(
        SECRET_CODE,
        spec={
            "env": [
                {"name": "DB_PASSWORD", "value": secret},
                {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
            ]
        },
        args=("--log-level", "debug"),
    )
    status, _, body = http(server.url("/"))
    assert (status, body) == (200, f"password length {len(secret)}".encode())
    status, _, body = http(server.url("/fail"))
    assert status == 500
    assert secret.encode() not in body
    stop_cleanly(server, within=5)
    log = server.log()
    assert secret not in log
    assert "spec.env API_TOKEN uses valueFrom" in log  # named, never shown
