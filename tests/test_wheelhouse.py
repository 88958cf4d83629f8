"""A runtime is assembled from chosen extras: only the plugins asked for get installed."""

from __future__ import annotations

from pathlib import Path

import pytest

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
