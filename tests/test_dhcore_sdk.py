"""DH Core's python job and serve runs, with the real DH SDK (0.15.x and 0.16.x).

Each SDK release line has its own venv under ``.peers/`` (``tools/peers.py``), holding
the SDK and our distributions; ``dh-serverless-processor`` runs there as DH Core starts it,
against a fake DH Core API on 127.0.0.1 (:mod:`dhcore_fixtures`).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

from dhcore_fixtures import (
    FakeDHCore,
    clean_env,
    fake_dhcore,
    free_port,
    http,
    job_yaml,
    run_entity,
    serve_yaml,
    stop,
    wait_until,
)
from peers import peer_python

# The first test may make the SDK venvs (minutes) when .ci/run has not made them yet.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

PROJECT = "demo"
SECRETS = {
    "DHCORE_ACCESS_TOKEN": "tok-Acc3ss-5ecret-0123456789",
    "DHCORE_REFRESH_TOKEN": "tok-Refr3sh-5ecret-0123456789",
    "AWS_SECRET_ACCESS_KEY": "aws-5ecret-key-0123456789",
    "MY_API_KEY": "user-5ecret-0123456789",
}

USER_SOURCE = """
import os


def prepare(context, greeting):
    context.greeting = greeting


def add(a, b):
    return a + b


def broken(a):
    raise ValueError(f"cannot use {a}")


def echo(context, event):
    body = event.body
    if isinstance(body, bytes):
        body = body.decode()
    return {
        "greeting": getattr(context, "greeting", None),
        "body": body,
        "worker": context.worker_id,
        "has_project": context.project.name,
        "env_keys": sorted(k for k in os.environ if k.startswith("MY_")),
    }


def fail(event):
    raise RuntimeError("serve failed")
"""


@pytest.fixture(scope="class")
def sdk_bin(request: pytest.FixtureRequest) -> Path:
    """The bin folder of the class's SDK venv (made on first use: a few minutes)."""
    return peer_python(request.cls.peer).parent


@pytest.fixture
def fake() -> Iterator[FakeDHCore]:
    with fake_dhcore(PROJECT) as server:
        yield server


def shared_folder(tmp_path: Path, function_yaml: str) -> Path:
    """What DH Core's init container writes into /shared."""
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "main.py").write_text(textwrap.dedent(USER_SOURCE))
    (shared / "function.yaml").write_text(function_yaml)
    return shared


def dhcore_env(tmp_path: Path, fake: FakeDHCore, run_id: str, shared: Path) -> dict[str, str]:
    """The pod's environment: DH Core's variables, the run's secrets, HOME in a temp folder."""
    return clean_env(
        PROJECT_NAME=PROJECT,
        RUN_ID=run_id,
        DHCORE_ENDPOINT=fake.endpoint,
        DHCORE_NAMESPACE="default",
        DH_CONFIG=str(tmp_path / ".dhcore.ini"),
        HOME=str(tmp_path),
        # Kubernetes does not expand it; the literal still puts the folder on sys.path.
        PYTHONPATH=f"${{PYTHONPATH}}:{shared}",
        DH_SERVERLESS_DHCORE_ROOT=str(shared),
        DH_SERVERLESS_LOG_LEVEL="debug",
        **SECRETS,
    )


def start_processor(
    sdk_bin: Path, shared: Path, env: dict[str, str], cwd: Path, health_port: int
) -> subprocess.Popen[str]:
    cwd.mkdir(exist_ok=True)
    return subprocess.Popen(
        [
            sdk_bin / "dh-serverless-processor",
            "--config",
            shared / "function.yaml",
            "--health-host",
            "127.0.0.1",
            "--health-port",
            str(health_port),
        ],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_job(sdk_bin: Path, tmp_path: Path, fake: FakeDHCore, **run: object):
    run_id = "d6a2bd0e1c2f4"
    entity = run_entity(PROJECT, run_id, "job", **run)  # type: ignore[arg-type]
    fake.runs[run_id] = entity
    shared = shared_folder(tmp_path, job_yaml(entity, handler="run_handler:handler_job"))
    env = dhcore_env(tmp_path, fake, run_id, shared)
    process = start_processor(sdk_bin, shared, env, tmp_path / "work", free_port())
    try:
        out, err = process.communicate(timeout=90)
    finally:
        stop(process)
    return process.returncode, out, err


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for name, value in SECRETS.items():
            assert value not in text, f"{name} leaked"


# ---------------------------------------------------------------------------
# DH Core's newer rendered handler.py templates (import only the SDK)
# ---------------------------------------------------------------------------

#: What DH Core renders into /shared/handler.py for a job, in the shape of its template
#: (module-level SDK imports, `source` inlined as JSON); written for these tests.
JOB_TEMPLATE = """
import os

from digitalhub.context.api import get_context
from digitalhub.entities.project.crud import get_project
from digitalhub.entities.run.crud import get_run
from digitalhub.runtimes.enums import RuntimeEnvVar
from digitalhub_runtime_python.utils import configuration
from digitalhub_runtime_python.utils.configuration import import_function_and_init_from_source
from digitalhub_runtime_python.utils.inputs import compose_inputs
from digitalhub_runtime_python.utils.outputs import build_new_status, parse_outputs

# The SDK reads the source from /shared; these tests keep it in a temporary folder.
configuration.DEFAULT_SERVERLESS_PATH = configuration.Path(os.environ["DH_SERVERLESS_DHCORE_ROOT"])


def init_context(context):
    project_name = os.getenv(RuntimeEnvVar.PROJECT.value)
    project = get_project(project_name)
    get_context(project.name).root.mkdir(parents=True, exist_ok=True)
    run = get_run(os.getenv(RuntimeEnvVar.RUN_ID.value), project=project_name)
    run.start_execution()
    run.spec.inputs = run.inputs(as_dict=True)
    source = SOURCE
    func, _ = import_function_and_init_from_source(source)
    context.project, context.run, context.user_function = project, run, func


def handler(context, event):
    spec = context.run.spec.to_dict()
    args = compose_inputs(spec.get("inputs", {}), spec.get("parameters", {}), False,
                          context.user_function, context.project, context, event)
    try:
        results = parse_outputs(context.user_function(**args), context.project.name,
                                context.run.key)
        context.run.refresh()
        context.run.set_status({**build_new_status(context.project.name, results),
                                **context.run.status.to_dict()})
        context.run.save(update=True)  # as DH Core's template writes it
    finally:
        context.run.end_execution()
    return context.Response(body="OK", headers={}, content_type="text/plain", status_code=200)
"""


#: DH Core's serve template, in the same shape: the user function per event; errors are
#: logged and swallowed (the answer is then empty, 200).
SERVE_TEMPLATE = """
import os

from digitalhub.entities.project.crud import get_project
from digitalhub.entities.run.crud import get_run
from digitalhub.runtimes.enums import RuntimeEnvVar
from digitalhub_runtime_python.utils import configuration
from digitalhub_runtime_python.utils.configuration import import_function_and_init_from_source
from digitalhub_runtime_python.utils.inputs import compose_inputs

configuration.DEFAULT_SERVERLESS_PATH = configuration.Path(os.environ["DH_SERVERLESS_DHCORE_ROOT"])


def init_context(context):
    project_name = os.getenv(RuntimeEnvVar.PROJECT.value)
    project = get_project(project_name)
    run = get_run(os.getenv(RuntimeEnvVar.RUN_ID.value), project=project_name)
    run.start_execution()
    func, _ = import_function_and_init_from_source(SOURCE)
    context.project, context.run, context.user_function = project, run, func


def handler(context, event):
    try:
        args = compose_inputs({}, {}, False, context.user_function, context.project, context, event)
    finally:
        context.run.end_execution()
    try:
        return context.user_function(**args)
    except BaseException as e:
        context.logger.error(f"Function execution failed with error: {str(e)}")
    finally:
        context.run.end_execution()
"""


def wait_ready(process: subprocess.Popen[str], health: int) -> None:
    """Wait for /ready; fail with the processor's output if it exits first."""

    def ready() -> bool:
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"processor exited {process.returncode}\n{out}\n{err}")
        return _status(f"http://127.0.0.1:{health}/ready") == 200

    wait_until(ready, 60, "/ready")


def _status(url: str) -> int | None:
    try:
        return http(url, timeout=2)[0]
    except OSError:
        return None


# ---------------------------------------------------------------------------
# The tests, once per SDK release line: one class each, so parallel runs
# (pytest-xdist's --dist loadscope) give each line its own worker.
# ---------------------------------------------------------------------------


class SDKTests:
    """Every test, against the SDK venv named by the subclass's ``peer``."""

    peer: str

    def test_job_with_parameters_saves_its_results_and_exits_0(self, sdk_bin, tmp_path, fake):
        code, out, err = run_job(
            sdk_bin, tmp_path, fake, handler="main:add", parameters={"a": 2, "b": 3}
        )
        assert code == 0, err
        assert "job 'job' succeeded: 200 OK" in out
        (saved,) = fake.puts()
        assert saved["status"]["results"] == {"output_0": 5}
        # The original's merge order: the run's own state wins (DH Core sets the final one).
        assert saved["status"]["state"] == "RUNNING"
        assert ("GET", f"/api/v1/projects/{PROJECT}", None) in fake.requests
        assert_no_secret(out, err)

    def test_job_that_raises_exits_1_and_saves_nothing(self, sdk_bin, tmp_path, fake):
        code, out, err = run_job(
            sdk_bin, tmp_path, fake, handler="main:broken", parameters={"a": 7}
        )
        assert code == 1
        assert "job 'job' failed: 500 Internal Server Error" in out
        assert "ValueError: cannot use 7" in out
        assert fake.puts() == []
        assert_no_secret(out, err)

    def test_job_without_run_id_exits_1_naming_the_variable(self, sdk_bin, tmp_path, fake):
        entity = run_entity(PROJECT, "r1", "job", handler="main:add", parameters={"a": 1, "b": 1})
        shared = shared_folder(tmp_path, job_yaml(entity, handler="run_handler:handler_job"))
        env = dhcore_env(tmp_path, fake, "r1", shared)
        del env["RUN_ID"]
        process = start_processor(sdk_bin, shared, env, tmp_path / "work", free_port())
        _, err = process.communicate(timeout=90)
        assert process.returncode == 1
        assert "RUN_ID is not set" in err

    def test_serve_calls_the_user_function_per_request(self, sdk_bin, tmp_path, fake):
        run_id = "5e7e1"
        fake.runs[run_id] = run_entity(
            PROJECT,
            run_id,
            "serve",
            handler="main:echo",
            init_function="prepare",
            init_parameters={"greeting": "ciao"},
        )
        port, health = free_port(), free_port()
        shared = shared_folder(tmp_path, serve_yaml("run_handler:handler_serve", port=port))
        env = dhcore_env(tmp_path, fake, run_id, shared)
        fake.delay = 2.0  # init_context waits on DH Core: /live must answer meanwhile
        process = start_processor(sdk_bin, shared, env, tmp_path / "work", health)
        try:
            wait_until(lambda: _status(f"http://127.0.0.1:{health}/live") == 200, 30, "/live")
            assert _status(f"http://127.0.0.1:{health}/ready") == 503
            wait_ready(process, health)
            calls_after_init = len(fake.requests)
            bodies = []
            for text in ("one", "two", "three"):
                status, body = http(f"http://127.0.0.1:{port}/", json.dumps({"t": text}).encode())
                assert status == 200, body
                bodies.append(json.loads(body))
            assert [b["body"] for b in bodies] == [{"t": "one"}, {"t": "two"}, {"t": "three"}]
            assert {b["greeting"] for b in bodies} == {"ciao"}
            assert {b["has_project"] for b in bodies} == {PROJECT}
            assert {b["worker"] for b in bodies} <= {"0", "1"}
            assert bodies[0]["env_keys"] == ["MY_API_KEY"]  # present, never shown
            assert len(fake.requests) == calls_after_init  # no DH Core call per request
            responses = http(f"http://127.0.0.1:{port}/")[1]
        finally:
            out, err = stop(process)
        assert process.returncode == 0, err
        assert_no_secret(out, err, responses.decode(), json.dumps(bodies))

    def test_serve_errors_answer_500_and_the_function_keeps_serving(self, sdk_bin, tmp_path, fake):
        run_id = "5e7e2"
        fake.runs[run_id] = run_entity(PROJECT, run_id, "serve", handler="main:fail")
        port, health = free_port(), free_port()
        shared = shared_folder(tmp_path, serve_yaml("run_handler:handler_serve", port=port))
        env = dhcore_env(tmp_path, fake, run_id, shared)
        process = start_processor(sdk_bin, shared, env, tmp_path / "work", health)
        try:
            wait_ready(process, health)
            for _ in range(2):
                status, body = http(f"http://127.0.0.1:{port}/", b"{}")
                assert (status, body) == (500, b"RuntimeError: serve failed")
        finally:
            out, err = stop(process)
        assert process.returncode == 0
        assert_no_secret(out, err)

    def test_rendered_job_template_runs_unchanged(self, sdk_bin, tmp_path, fake):
        run_id = "7e3a1"
        entity = run_entity(
            PROJECT, run_id, "job", handler="main:add", parameters={"a": 40, "b": 2}
        )
        fake.runs[run_id] = entity
        shared = shared_folder(tmp_path, job_yaml(entity))
        source = json.dumps(entity["spec"]["source"])
        (shared / "handler.py").write_text(JOB_TEMPLATE.replace("SOURCE", source, 1))
        env = dhcore_env(tmp_path, fake, run_id, shared)
        process = start_processor(sdk_bin, shared, env, tmp_path / "work", free_port())
        out, err = process.communicate(timeout=90)
        assert_no_secret(out, err)
        if sdk_bin.parent.name == "dhcore-0.15":
            assert process.returncode == 0, err
            (saved,) = fake.puts()
            assert saved["status"]["results"] == {"output_0": 42}
        else:
            # 0.16.0b19 dropped save(update=True): DH Core's template fails with it, and says so.
            assert process.returncode == 1
            assert "TypeError" in out
            assert "update" in out
            assert fake.puts() == []

    def test_rendered_serve_template_runs_unchanged(self, sdk_bin, tmp_path, fake):
        run_id = "7e3a2"
        fake.runs[run_id] = entity = run_entity(PROJECT, run_id, "serve", handler="main:echo")
        port, health = free_port(), free_port()
        shared = shared_folder(tmp_path, serve_yaml(port=port))
        source = json.dumps(entity["spec"]["source"])
        (shared / "handler.py").write_text(SERVE_TEMPLATE.replace("SOURCE", source, 1))
        env = dhcore_env(tmp_path, fake, run_id, shared)
        process = start_processor(sdk_bin, shared, env, tmp_path / "work", health)
        try:
            wait_ready(process, health)
            status, body = http(f"http://127.0.0.1:{port}/", b'{"t": 1}')
        finally:
            out, err = stop(process)
        assert status == 200
        assert json.loads(body)["body"] == {"t": 1}
        assert process.returncode == 0
        assert_no_secret(out, err, body.decode())

    def test_importing_run_handler_does_not_import_the_sdk(self, sdk_bin):
        code = (
            "import sys, time; t = time.monotonic(); import run_handler; "
            "print('digitalhub' in sys.modules, 'digitalhub_runtime_python' in sys.modules, "
            "time.monotonic() - t < 0.5)"
        )
        result = subprocess.run(
            [sdk_bin / "python", "-c", code], capture_output=True, text=True, env=clean_env()
        )
        assert result.stdout.split() == ["False", "False", "True"], result.stderr


class TestSDK015(SDKTests):
    peer = "dhcore-0.15"


class TestSDK016(SDKTests):
    peer = "dhcore-0.16"
