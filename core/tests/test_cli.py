"""The ``dh-serverless`` command, run as a user runs it (``validate`` is in test_config.py)."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dh_serverless.core.plugins import GROUPS
from dh_serverless.core.version import __version__

CLI = shutil.which("dh-serverless", path=os.path.dirname(sys.executable))

pytestmark = pytest.mark.skipif(CLI is None, reason="dh-serverless is not installed in this venv")

HANDLER = """\
    import json

    def init_context(context):
        context.user_data.greeting = "Hello"

    def handler(context, event):
        if event.get_header("X-Fail"):
            raise ValueError("boom")
        if event.path == "/missing":
            return context.Response(body="nope", status_code=404)
        if event.path == "/headers":
            return context.Response(body="h", headers={"X-Answer": 42}, status_code=201)
        if event.path == "/describe":
            return {
                "body_type": type(event.body).__name__,
                "body": event.body if isinstance(event.body, (dict, list)) else event.body.decode(),
                "content_type": event.content_type,
                "token": event.get_header("x-token"),
                "fields": event.fields,
                "method": event.method,
                "path": event.path,
                "trigger": [context.trigger.kind, context.trigger.name],
                "worker_id": context.worker_id,
            }
        return f"{context.user_data.greeting}, {event.body.decode() or 'world'}!"
"""

FUNCTION_YAML = """\
    apiVersion: nuclio.io/v1
    kind: NuclioFunction
    metadata:
      name: hello
    spec:
      handler: main:handler
      triggers:
        web:
          kind: http
"""


@pytest.fixture
def function(tmp_path):
    (tmp_path / "main.py").write_text(textwrap.dedent(HANDLER))
    path = tmp_path / "function.yaml"
    path.write_text(textwrap.dedent(FUNCTION_YAML))
    return path


def run(*args, cwd=None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DH_SERVERLESS_LOG_LEVEL": "warning"}
    return subprocess.run(
        [CLI, *map(str, args)], capture_output=True, text=True, timeout=60, cwd=cwd, env=env
    )


def split(stdout: str) -> tuple[str, list[str], str]:
    """(status line, header lines, body) of what ``invoke`` prints."""
    head, _, body = stdout.partition("\n\n")
    status, *headers = head.split("\n")
    return status, headers, body


def test_version():
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"dh-serverless {__version__}"


def test_no_command_shows_usage():
    result = run()
    assert result.returncode == 2
    assert "usage: dh-serverless" in result.stderr


def test_invoke_text(function):
    result = run("invoke", function, "--body", "Ada")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "200 text/plain\n\nHello, Ada!\n"


def test_invoke_without_body(function):
    result = run("invoke", function)
    assert result.returncode == 0, result.stderr
    assert split(result.stdout) == ("200 text/plain", [], "Hello, world!\n")


@pytest.mark.parametrize(
    "how",
    [["--content-type", "application/json"], ["-H", "Content-Type=application/json"]],
    ids=["--content-type", "header"],
)
def test_invoke_json_body_reaches_the_handler_as_a_dict(function, how):
    result = run(
        "invoke", function, "--path", "/describe", "--body", '{"a": [1, 2]}',
        "-H", "X-Token=abc", "--field", "q=1", *how,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    status, headers, body = split(result.stdout)
    assert status == "200 application/json"
    assert headers == []
    assert json.loads(body) == {
        "body_type": "dict",
        "body": {"a": [1, 2]},
        "content_type": "application/json",
        "token": "abc",
        "fields": {"q": "1"},
        "method": "POST",
        "path": "/describe",
        "trigger": ["http", "web"],
        "worker_id": "0",
    }


def test_invoke_text_body_stays_bytes(function, tmp_path):
    (tmp_path / "body.txt").write_text('{"a": 1}')
    result = run(
        "invoke", function, "--path", "/describe", "--body", f"@{tmp_path / 'body.txt'}",
        "--content-type", "text/plain", "--method", "PUT",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    described = json.loads(split(result.stdout)[2])
    assert (described["body_type"], described["body"]) == ("bytes", '{"a": 1}')
    assert described["method"] == "PUT"


def test_invoke_prints_response_headers(function):
    result = run("invoke", function, "--path", "/headers")
    assert result.returncode == 0, result.stderr
    assert split(result.stdout) == ("201 text/plain", ["X-Answer: 42"], "h\n")


def test_invoke_error_status_exits_1(function):
    result = run("invoke", function, "--path", "/missing")
    assert result.returncode == 1
    assert split(result.stdout) == ("404 text/plain", [], "nope\n")


def test_invoke_handler_raising_exits_1(function):
    result = run("invoke", function, "-H", "X-Fail=1")
    assert result.returncode == 1
    assert result.stdout == "500 text/plain\n\nValueError: boom\n"


def test_invoke_handler_raising_with_debug_prints_nuclios_body(function):
    result = run("invoke", function, "-H", "X-Fail=1", "--debug")
    assert result.returncode == 1
    status, _, body = split(result.stdout)
    assert status == "500 text/plain"
    assert body.startswith('Exception caught in handler - "boom": Traceback')


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("main.handler", "error: spec.handler 'main.handler' is not 'module:function'"),
        ("nomodule:handler", "error: cannot import handler module 'nomodule': no nomodule.py"),
        ("main:nope", "error: module 'main' has no function 'nope' (functions found: handler"),
    ],
)
def test_invoke_broken_handler_spec(function, spec, message):
    result = run("invoke", function, "--handler", spec)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(message)
    assert result.stderr.count("\n") == 1  # one line
    assert "Traceback" not in result.stderr


def test_invoke_module_raising_at_import(function, tmp_path):
    (tmp_path / "broken.py").write_text("raise RuntimeError('kaput')\n")
    result = run("invoke", function, "--handler", "broken:handler")
    assert result.returncode == 1
    assert result.stderr == (
        "error: importing handler module 'broken' raised RuntimeError: kaput\n"
    )


def test_invoke_init_context_raising(function, tmp_path):
    (tmp_path / "badinit.py").write_text(
        "def init_context(context):\n    raise OSError('no model')\n\n"
        "def handler(context, event):\n    return 'x'\n"
    )
    result = run("invoke", function, "--handler", "badinit:handler")
    assert result.returncode == 1
    assert "init_context" in result.stderr
    assert "OSError: no model" in result.stderr
    assert "Traceback" not in result.stderr


def test_invoke_invalid_config_exits_2(tmp_path):
    path = tmp_path / "function.yaml"
    path.write_text("apiVersion: nuclio.io/v1\nspec:\n  handler: main:handler\n  trigers: {}\n")
    result = run("invoke", path)
    assert result.returncode == 2
    assert str(path) in result.stderr
    assert "did you mean 'triggers'?" in result.stderr
    assert "Traceback" not in result.stderr


def test_invoke_bad_header_argument(function):
    result = run("invoke", function, "-H", "no-equals-sign")
    assert result.returncode == 1
    assert "expected K=V" in result.stderr
    assert "Traceback" not in result.stderr


def test_plugins_lists_installed_entry_points():
    result = run("plugins")
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["KIND", "GROUP", "DISTRIBUTION", "VERSION"]
    listed = {tuple(row.split()[:2]) for row in rows}
    for group in GROUPS:
        for ep in importlib.metadata.entry_points(group=group):
            assert (ep.name, group) in listed


@pytest.mark.parametrize("command", ["dh-serverless", "dh-serverless-processor"])
def test_run_with_an_unknown_trigger_kind_prints_the_error_alone(function, command):
    function.write_text(function.read_text().replace("kind: http", "kind: htttp"))
    args = ["run", function] if command == "dh-serverless" else ["--config", function]
    result = subprocess.run(
        [Path(CLI).with_name(command), *map(str, args)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith("error: unknown trigger kind 'htttp'"), result.stderr
    assert "Warning" not in result.stderr  # no coroutine left unawaited, no traceback
