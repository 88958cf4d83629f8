"""contrib/plugin-template: a new plugin distribution whose own tests pass as generated.

It generates a trigger (the default: a ticker) and a sink with the command
docs/writing-a-plugin.md gives (``cookiecutter contrib/plugin-template``), installs each
into a folder of its own (``pip install --target``, no venv to build) and runs the
generated tests there, with the generated pyproject's pytest settings; both installs and
both runs go side by side.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from dh_serverless.testing.processes import code_blocks, dh_command

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "contrib" / "plugin-template"

pytestmark = pytest.mark.timeout(240)


COOKIECUTTER = str(Path(sys.executable).parent / "cookiecutter")


def generate(out: Path, **context: str) -> subprocess.CompletedProcess[str]:
    """The command docs/writing-a-plugin.md gives, answering the prompts on its line."""
    answers = [f"{key}={value}" for key, value in context.items()]
    return subprocess.run(
        [COOKIECUTTER, "--no-input", str(TEMPLATE), *answers], cwd=out,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def env_with(site: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    return {**base, "PYTHONPATH": str(site), "PYTHONDONTWRITEBYTECODE": "1"}


def start(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(args, cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip


def finish(proc: subprocess.Popen[str], timeout: float = 180) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out
    return out


def test_a_generated_trigger_and_sink_pass_their_own_tests(tmp_path):
    for context in ({}, {"plugin_type": "sink", "kind": "lines"}):
        made = generate(tmp_path, **context)
        assert made.returncode == 0, made.stdout + made.stderr
    trigger, sink = tmp_path / "dh-trigger-ticker", tmp_path / "dh-sink-lines"

    # the shape of a distribution of this project
    for folder, group, kind, cls, package in (
        (trigger, "triggers", "ticker", "TickerTrigger", "dh_serverless/triggers/ticker"),
        (sink, "sinks", "lines", "LinesSink", "dh_serverless/sinks/lines"),
    ):
        project = tomllib.loads((folder / "pyproject.toml").read_text())
        points = project["project"]["entry-points"][f"dh_serverless.{group}"]
        assert points == {kind: f"{package.replace('/', '.')}:{cls}"}
        assert {"dh-serverless-core", "dh-serverless-hookspecs"} <= set(
            project["project"]["dependencies"]
        )
        assert (folder / "src" / package / "__init__.py").exists()
        assert not (folder / "src" / "dh_serverless" / "__init__.py").exists()
        assert not (folder / "src" / "dh_serverless" / group / "__init__.py").exists()
        assert (folder / "README.md").exists()
        assert (folder / "CHANGELOG.md").exists()
        other = "sink" if group == "triggers" else "trigger"
        assert not list(folder.rglob(f"*{other}.py"))  # only the chosen type's files
        lint = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=folder,
                              capture_output=True, text=True, check=False)  # fmt: skip
        assert lint.returncode == 0, lint.stdout

    # install each into its own folder (its entry point found through PYTHONPATH), side by side
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"]
    sites = {folder: tmp_path / f"site-{folder.name}" for folder in (trigger, sink)}
    for proc in [start([*pip, "--target", str(s), str(f)], tmp_path) for f, s in sites.items()]:
        finish(proc)

    # their own tests, with their own pytest settings, side by side
    pytest_cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    runs = {f: start(pytest_cmd, f, env_with(s)) for f, s in sites.items()}
    assert "7 passed" in finish(runs[trigger])
    assert "4 passed" in finish(runs[sink])

    # what the README tells a user: the plugin is listed, its configuration is valid
    listed = finish(start([dh_command(), "plugins"], tmp_path, env_with(sites[trigger])))
    assert "dh-trigger-ticker" in listed
    (trigger / "function.yaml").write_text(code_blocks((trigger / "README.md").read_text(),
                                                       "yaml")[0])  # fmt: skip
    (trigger / "main.py").write_text("def handler(context, event):\n    return event.body\n")
    config = yaml.safe_load((trigger / "function.yaml").read_text())
    assert config["spec"]["triggers"]["clock"]["kind"] == "ticker"
    finish(start([dh_command(), "validate", "function.yaml"], trigger, env_with(sites[trigger])))


def test_a_kind_that_cannot_be_a_package_is_refused(tmp_path):
    made = generate(tmp_path, kind="My Kind")
    assert made.returncode != 0
    assert "error: kind 'My Kind' must start with a lowercase letter" in made.stdout
    assert list(tmp_path.iterdir()) == []
