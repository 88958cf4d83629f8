"""``dh-serverless-processor`` as DH Core starts it: the Nuclio processor's flags, DH Core's
function.yaml files as its Jackson mapper writes them, exit codes and signals."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dhcore_fixtures import (
    clean_env,
    free_port,
    http,
    job_yaml,
    run_entity,
    serve_yaml,
    stop,
    wait_until,
)

from dh_serverless.core.config import load_function_config
from dh_serverless.core.plugins import PluginHost
from dh_serverless.core.prepare import prepare_triggers

BIN = Path(sys.executable).parent
PROCESSOR = BIN / "dh-serverless-processor"
RUN = run_entity("demo", "d6a2bd0e1c2f4", "job", parameters={"a": 1})

HANDLER = """
import json
import time


def handler(context, event):
    body = event.body
    if isinstance(body, bytes):
        body = json.loads(body) if body.startswith(b"{") else {}
    run = body
    mode = run.get("spec", {}).get("parameters", {}).get("mode", "ok")
    if mode == "raise":
        raise ValueError("the job failed")
    if mode == "404":
        return context.Response(body="no such thing", status_code=404)
    if mode == "sleep":
        open("started", "w").close()  # in the function folder: the test signals after this
        time.sleep(run["spec"]["parameters"]["seconds"])
    return {"run": run.get("id"), "trigger": context.trigger.kind, "worker": context.worker_id}
"""


def function_folder(tmp_path: Path, function_yaml: str) -> Path:
    """DH Core's /shared: function.yaml and the rendered handler.py."""
    shared = tmp_path / "shared"
    shared.mkdir(exist_ok=True)
    (shared / "handler.py").write_text(textwrap.dedent(HANDLER))
    (shared / "function.yaml").write_text(function_yaml)
    return shared / "function.yaml"


def processor(config: Path, *extra: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PROCESSOR, "--config", config, "--health-host", "127.0.0.1",
         "--health-port", str(free_port()), *extra],
        cwd=config.parent,
        env=clean_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def job_run(mode: str, **parameters: object) -> dict:
    run = run_entity("demo", "d6a2bd0e1c2f4", "job", parameters={"mode": mode, **parameters})
    return run


# ---------------------------------------------------------------------------
# DH Core's function.yaml files load as written
# ---------------------------------------------------------------------------


def test_job_yaml_is_jackson_shaped_and_loads_with_the_run_as_event_body(tmp_path):
    text = job_yaml(RUN)
    assert "\\\n                        " in text  # a long string wrapped with a continuation
    path = function_folder(tmp_path, text)
    config = load_function_config(path, processor=True)
    assert config.api_version == "nuclio.io/v1beta1"
    assert config.spec.handler == "handler:handler"
    (prepared,) = prepare_triggers(config, str(path), PluginHost())
    assert (prepared.name, prepared.config.kind) == ("job", "job")
    assert json.loads(prepared.attributes.event.body) == RUN


def test_serve_yaml_loads_with_two_http_workers_on_8080(tmp_path):
    path = function_folder(tmp_path, serve_yaml())
    config = load_function_config(path, processor=True)
    (prepared,) = prepare_triggers(config, str(path), PluginHost())
    assert (prepared.name, prepared.config.kind, prepared.config.workers) == ("http", "http", 2)
    assert prepared.attributes.port == 8080


def test_older_run_handler_configs_load(tmp_path):
    path = function_folder(tmp_path, job_yaml(RUN, handler="run_handler:handler_job"))
    assert load_function_config(path, processor=True).spec.handler == "run_handler:handler_job"


# ---------------------------------------------------------------------------
# Exit codes of a job
# ---------------------------------------------------------------------------


def test_job_success_exits_0_with_the_result_on_stdout(tmp_path):
    process = processor(function_folder(tmp_path, job_yaml(job_run("ok"))))
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    lines = out.splitlines()
    assert lines[0] == "job 'job' succeeded: 200 OK"
    assert json.loads(lines[1]) == {"run": "d6a2bd0e1c2f4", "trigger": "job", "worker": "0"}


@pytest.mark.parametrize(
    ("mode", "first_line"),
    [
        ("raise", "job 'job' failed: 500 Internal Server Error"),
        ("404", "job 'job' failed: 404 Not Found"),
    ],
)
def test_job_exception_or_non_2xx_exits_1(tmp_path, mode, first_line):
    process = processor(function_folder(tmp_path, job_yaml(job_run(mode))))
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 1
    assert out.splitlines()[0] == first_line


def handler_started(process: subprocess.Popen[str], folder: Path) -> None:
    """Wait until the job's handler runs (the runtime handles signals from then on)."""
    wait_until(lambda: (folder / "started").exists() or process.poll() is not None, 60, "job")
    assert process.poll() is None, process.communicate()


def test_job_finishing_after_sigterm_keeps_its_exit_code(tmp_path):
    config = function_folder(tmp_path, job_yaml(job_run("sleep", seconds=2)))
    process = processor(config)
    try:
        handler_started(process, config.parent)
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=30)
    finally:
        stop(process)
    assert process.returncode == 0
    assert "job 'job' succeeded: 200 OK" in out


def test_job_cut_short_by_a_signal_exits_1_within_its_grace_period(tmp_path):
    text = job_yaml(job_run("sleep", seconds=60)).replace(
        "    minReplicas: 1\n", "    minReplicas: 1\n    gracefulShutdownTimeout: 1\n"
    )
    config = function_folder(tmp_path, text)
    process = processor(config)
    try:
        handler_started(process, config.parent)
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
        took = time.monotonic() - started
    finally:
        stop(process)
    assert process.returncode == 1
    assert took < 10


# ---------------------------------------------------------------------------
# A serve, and signals
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_answers_and_exits_0_promptly_on_a_signal(tmp_path, sig):
    port = free_port()
    process = processor(function_folder(tmp_path, serve_yaml(port=port)))
    try:
        wait_until(lambda: _answers(f"http://127.0.0.1:{port}/"), 30, "the http trigger")
        status, body = http(f"http://127.0.0.1:{port}/", b'{"x": 1}')
        assert status == 200
        assert json.loads(body)["trigger"] == "http"
        started = time.monotonic()
        process.send_signal(sig)
        process.communicate(timeout=30)
        took = time.monotonic() - started
    finally:
        stop(process)
    assert process.returncode == 0
    assert took < 5


def _answers(url: str) -> bool:
    try:
        return http(url, timeout=2)[0] == 200
    except OSError:
        return False


# ---------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------


def test_no_config_mounted_names_the_path_it_looked_for(tmp_path):
    # docker run -e PROJECT_NAME=... -e RUN_ID=... <image>: the image runs the processor bare.
    result = subprocess.run(
        [PROCESSOR],
        capture_output=True,
        text=True,
        env=clean_env(PROJECT_NAME="demo", RUN_ID="d6a2bd0e1c2f4"),
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(
        "error: no function configuration at /etc/nuclio/config/processor/processor.yaml "
        "(the default of --config)"
    )
    assert "--config PATH" in result.stderr
    assert "Traceback" not in result.stderr


def test_platform_config_is_read_and_a_missing_one_is_an_error(tmp_path):
    config = function_folder(tmp_path, job_yaml(job_run("ok")))
    platform = tmp_path / "platform.yaml"
    platform.write_text("logger:\n  sinks: {stdout: {kind: stdout}}\n")
    process = processor(config, "--platform-config", str(platform))
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert f"platform configuration {platform} read and not used (logger)" in err
    process = processor(config, "--platform-config", str(tmp_path / "missing.yaml"))
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "--platform-config: cannot read the file" in err


def test_invalid_config_exits_2(tmp_path):
    config = function_folder(tmp_path, job_yaml(job_run("ok")).replace("runtime", "runtim"))
    process = processor(config)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "spec.runtim: unknown key" in err


def test_list_runtimes():
    result = subprocess.run([PROCESSOR, "--list-runtimes"], capture_output=True, text=True)
    assert (result.returncode, result.stdout) == (0, "python\n")


def test_dhcore_yaml_parses_identically_to_its_json(tmp_path):
    # PyYAML reads Jackson's wrapped, escaped strings back to the exact Run JSON.
    for run in (RUN, job_run("sleep", seconds=1), {"text": 'é \\ " ' * 40}):
        loaded = yaml.safe_load(job_yaml(run))
        assert json.loads(loaded["spec"]["triggers"]["job"]["attributes"]["event"]["body"]) == run
