"""A runtime is assembled from chosen extras: only the plugins asked for get installed."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

GROUPS = {"dh_serverless.triggers", "dh_serverless.sinks", "dh_serverless.plugins"}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def installed_plugins(bin_dir: Path, run_ok) -> dict[str, str]:
    """``dh-serverless plugins`` (rows: kind, group, distribution, version) as {kind: dist}."""
    out = run_ok([bin_dir / "dh-serverless", "plugins"]).stdout
    plugins = {}
    for line in out.splitlines():
        cols = line.split()
        if len(cols) >= 3 and cols[1] in GROUPS:
            plugins[cols[0]] = cols[2]
    assert plugins, f"no plugin rows in `dh-serverless plugins` output:\n{out}"
    return plugins


def test_wheelhouse_has_one_wheel_per_distribution(wheelhouse: Path) -> None:
    names = sorted(p.name.split("-")[0] for p in wheelhouse.glob("*.whl"))
    for expected in ("dh_serverless", "dh_serverless_core", "dh_serverless_hookspecs"):
        assert expected in names


def test_extras_choose_the_installed_plugins(install, run_ok, tmp_path: Path) -> None:
    bin_dir = install(tmp_path / "venv", "http")
    plugins = installed_plugins(bin_dir, run_ok)
    assert plugins.get("http") == "dh-trigger-http"
    assert "job" not in plugins

    install(tmp_path / "venv", "job")
    plugins = installed_plugins(bin_dir, run_ok)
    assert plugins.get("http") == "dh-trigger-http"
    assert plugins.get("job") == "dh-trigger-job"


CRON_HANDLER = """
import pathlib

def handler(context, event):
    with open(pathlib.Path(__file__).parent / "ticks", "a") as f:
        f.write(f"{context.trigger.kind} {event.body.decode()}\\n")
"""

CRON_FUNCTION = """
apiVersion: nuclio.io/v1
kind: NuclioFunction
metadata: {name: ticker}
spec:
  handler: ticker:handler
  triggers:
    every-100ms:
      kind: cron
      attributes:
        interval: 100ms
        event: {body: tick}
"""


def test_third_party_plugin_installs_from_its_folder(install, run_ok, tmp_path: Path) -> None:
    """The plugin-author walkthrough: pip install the folder, then use its kind."""
    bin_dir = install(tmp_path / "venv", "http")
    run_ok(
        [bin_dir / "python", "-m", "pip", "install", "-q", ROOT / "contrib/plugins/dh-trigger-cron"]
    )
    assert installed_plugins(bin_dir, run_ok).get("cron") == "dh-trigger-cron"

    (tmp_path / "ticker.py").write_text(CRON_HANDLER)
    (tmp_path / "function.yaml").write_text(CRON_FUNCTION)
    proc = subprocess.Popen(
        [bin_dir / "dh-serverless", "run", tmp_path / "function.yaml", "--no-health"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        ticks = tmp_path / "ticks"
        while (
            time.monotonic() < deadline
            and len(ticks.read_text().splitlines() if ticks.exists() else []) < 3
        ):
            time.sleep(0.1)
        assert ticks.read_text().splitlines()[:3] == ["cron tick"] * 3
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, output
