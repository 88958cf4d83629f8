"""Plugins as installed distributions: a broken one is named and breaks nothing else."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent

FUNCTION = """
apiVersion: nuclio.io/v1
kind: NuclioFunction
metadata: {name: f}
spec:
  handler: main:handler
  triggers:
    t: {kind: KIND}
"""


@pytest.fixture
def broken_plugin(tmp_path: Path) -> dict[str, str]:
    """A distribution dh-trigger-broken whose trigger module fails to import, on PYTHONPATH."""
    site = tmp_path / "site"
    dist = site / "dh_trigger_broken-0.3.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: dh-trigger-broken\nVersion: 0.3.0\n"
    )
    (dist / "entry_points.txt").write_text(
        "[dh_serverless.triggers]\nbroken = broken_trigger:BrokenTrigger\n"
    )
    (site / "broken_trigger.py").write_text("import a_library_that_is_not_installed\n")
    (tmp_path / "main.py").write_text("def handler(context, event):\n    return 'ok'\n")
    return {**os.environ, "PYTHONPATH": str(site)}


def validate(tmp_path: Path, kind: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "function.yaml"
    path.write_text(FUNCTION.replace("KIND", kind))
    return subprocess.run(
        [BIN / "dh-serverless", "validate", path],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_a_broken_plugin_is_named_with_its_distribution(tmp_path, broken_plugin):
    result = validate(tmp_path, "broken", broken_plugin)
    assert result.returncode == 2
    assert result.stderr.startswith(
        "error: trigger kind 'broken' from dh-trigger-broken failed to import: "
        "ModuleNotFoundError: No module named 'a_library_that_is_not_installed'"
    )
    assert "Traceback" not in result.stderr


def test_a_broken_plugin_does_not_break_the_others(tmp_path, broken_plugin):
    result = validate(tmp_path, "http", broken_plugin)
    assert result.returncode == 0, result.stderr
    assert "triggers: t (http)" in result.stdout
    listing = subprocess.run(
        [BIN / "dh-serverless", "plugins"], capture_output=True, text=True, env=broken_plugin
    )
    rows = {line.split()[0]: line.split() for line in listing.stdout.splitlines()[1:]}
    assert rows["broken"][1:] == ["dh_serverless.triggers", "dh-trigger-broken", "0.3.0"]
    assert rows["http"][2] == "dh-trigger-http"


def test_an_unknown_kind_names_the_installed_kinds_and_what_to_install(tmp_path):
    result = validate(tmp_path, "kafka", dict(os.environ))
    assert result.returncode == 2
    assert "unknown trigger kind 'kafka'; installed trigger kinds: " in result.stderr
    assert "http" in result.stderr
    # no distribution of this project provides it: no extra to suggest, the group to register in
    assert (
        "a plugin that registers it in the 'dh_serverless.triggers' entry-point group "
        "(by convention dh-trigger-kafka; dh-serverless ships none)"
    ) in result.stderr
    assert "dh-serverless[kafka]" not in result.stderr
