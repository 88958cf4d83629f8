"""End to end: ``dh-serverless run function.yaml`` with a job trigger, as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(30)

CLI = Path(sys.executable).with_name("dh-serverless")

HANDLERS = """
import json
import os
import sys


def echo(context, event):
    return context.Response(body=event.body, content_type="text/plain", status_code=200)


def created(context, event):
    return context.Response(body="made", status_code=201)


def not_found(context, event):
    return context.Response(body="nothing here", status_code=404)


def fails(context, event):
    raise ValueError("the job went wrong")


def job(context, event):
    # The original's integration test (integration_tests/job_event.yaml).
    body = json.loads(event.body)
    with open(os.environ["JOB_OUTPUT_FILE"], "w") as out:
        json.dump({"body": body}, out)
    with open(os.environ["JOB_OUTPUT_FILE"] + ".modules", "w") as out:
        json.dump(sorted(m for m in sys.modules if m.startswith("dh_serverless.")), out)
    with open(os.environ["JOB_OUTPUT_FILE"] + ".stacks", "w") as out:
        # what a job spares itself: the serving stacks, uvloop, and argparse's shutil
        stacks = {"aiohttp", "prometheus_client", "grpc", "numpy", "uvloop", "shutil", "difflib"}
        json.dump(sorted(stacks & set(sys.modules)), out)
    return {"body": body}
"""


def write_function(tmp_path: Path, attributes: str) -> Path:
    (tmp_path / "jobs.py").write_text(HANDLERS)
    config = tmp_path / "function.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            apiVersion: nuclio.io/v1
            kind: NuclioFunction
            metadata:
              name: job-test
            spec:
              handler: jobs:job
              env:
                - name: JOB_OUTPUT_FILE
                  value: {tmp_path / "out.json"}
              triggers:
                job:
                  kind: job
                  maxWorkers: 1
                  attributes:
            """
        )
        + textwrap.indent(textwrap.dedent(attributes), " " * 8)
    )
    return config


def run(config: Path, *args: str, health: bool = False) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("JOB_OUTPUT_FILE", "DH_SERVERLESS_HEALTH_PORT")
    }
    return subprocess.run(
        [str(CLI), "run", str(config), *([] if health else ["--no-health"]), *args],
        capture_output=True,
        text=True,
        timeout=20,
        env=env,
        check=False,
    )


JOB_EVENT = """\
event:
  body: '{"text": "Test text. Job is done."}'
"""


def test_original_integration_scenario(tmp_path: Path) -> None:
    config = write_function(tmp_path, JOB_EVENT)
    started = time.monotonic()
    result = run(config)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "out.json").read_text()) == {
        "body": {"text": "Test text. Job is done."}
    }
    assert result.stdout.splitlines() == [
        "job 'job' succeeded: 200 OK",
        '{"body": {"text": "Test text. Job is done."}}',
    ]
    assert elapsed < 5  # the original always slept 5 s before exiting


def test_no_other_trigger_or_sink_is_imported(tmp_path: Path) -> None:
    config = write_function(tmp_path, JOB_EVENT)
    assert run(config).returncode == 0
    modules = json.loads((tmp_path / "out.json.modules").read_text())
    assert "dh_serverless.triggers.job.trigger" in modules
    foreign = [
        m
        for m in modules
        if (
            m.startswith("dh_serverless.triggers.")
            and not m.startswith("dh_serverless.triggers.job")
        )
        or m.startswith("dh_serverless.sinks")
    ]
    assert foreign == []


def test_a_job_starts_no_health_server_and_no_http_stack(tmp_path: Path) -> None:
    config = write_function(tmp_path, JOB_EVENT)
    result = run(config, "--log-format", "text", health=True)
    assert result.returncode == 0, result.stderr
    assert "health server on" not in result.stderr
    assert json.loads((tmp_path / "out.json.stacks").read_text()) == []


def test_a_job_serves_health_when_asked(tmp_path: Path) -> None:
    config = write_function(tmp_path, JOB_EVENT)
    result = run(
        config,
        "--log-format",
        "text",
        "--health-host",
        "127.0.0.1",
        "--health-port",
        "0",
        health=True,
    )
    assert result.returncode == 0, result.stderr
    assert "health server on 127.0.0.1:" in result.stderr
    assert "prometheus_client" in json.loads((tmp_path / "out.json.stacks").read_text())


def test_success_prints_status_and_body(tmp_path: Path) -> None:
    config = write_function(tmp_path, "event: {body: hello job}\n")
    result = run(config, "--handler", "jobs:echo")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "job 'job' succeeded: 200 OK\nhello job\n"


def test_any_2xx_is_success(tmp_path: Path) -> None:
    config = write_function(tmp_path, "event: {}\n")
    result = run(config, "--handler", "jobs:created")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "job 'job' succeeded: 201 Created\nmade\n"


def test_non_2xx_exits_1(tmp_path: Path) -> None:
    config = write_function(tmp_path, "event: {}\n")
    result = run(config, "--handler", "jobs:not_found")
    assert result.returncode == 1
    assert result.stdout == "job 'job' failed: 404 Not Found\nnothing here\n"


def test_handler_exception_exits_1(tmp_path: Path) -> None:
    config = write_function(tmp_path, "event: {}\n")
    result = run(config, "--handler", "jobs:fails")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "job 'job' failed: 500 Internal Server Error"
    assert "ValueError: the job went wrong" in result.stdout


def test_invalid_attributes_exit_2_before_running(tmp_path: Path) -> None:
    config = write_function(tmp_path, "event: {bodi: x}\n")
    result = run(config)
    assert result.returncode == 2
    assert "spec.triggers.job.attributes.event.bodi" in result.stderr
    assert "did you mean 'body'" in result.stderr
    assert not (tmp_path / "out.json").exists()
