"""The DH SDK enters only through dh-serverless-dhcore (extra ``dhcore``), never through another
extra, ``make install`` or ``make run``; the bridge's wheel puts ``run_handler`` on sys.path."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
SDK = {"digitalhub", "digitalhub-runtime-python"}


def requirements_of(pyproject: Path) -> set[str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    names = {Requirement(r).name for r in project.get("dependencies", [])}
    for extra in project.get("optional-dependencies", {}).values():
        names |= {Requirement(r).name for r in extra}
    return names


def test_only_the_bridge_depends_on_the_sdk() -> None:
    pyprojects = [
        p for p in ROOT.glob("**/pyproject.toml") if not set(p.parts) & {".venv", ".peers", ".tox"}
    ]
    with_sdk = sorted(str(p.relative_to(ROOT)) for p in pyprojects if requirements_of(p) & SDK)
    assert with_sdk == ["contrib/dhcore/pyproject.toml"]
    for name in ("requirements-dev.txt", "requirements-test.txt"):
        assert "digitalhub" not in (ROOT / name).read_text()


def test_make_install_and_run_leave_the_bridge_out() -> None:
    for target in ("install", "run"):
        result = subprocess.run(
            ["make", "-n", "-B", "-C", ROOT, target], capture_output=True, text=True, check=True
        )
        assert "./core" in result.stdout or target == "run"
        assert "dhcore" not in result.stdout
        assert "digitalhub" not in result.stdout


def test_all_leaves_the_dhcore_extra_out() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert extras["dhcore"] == ["dh-serverless-dhcore"]
    assert "dhcore" not in Requirement(extras["all"][0]).extras


def test_bridge_wheel_ships_run_handler_as_a_top_level_module(tmp_path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", tmp_path,
         ROOT / "contrib" / "dhcore"],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("dh_serverless_dhcore-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "run_handler.py" in names
    assert "dh_serverless/dhcore/bridge.py" in names
    assert "dh_serverless/__init__.py" not in names  # the namespace stays shared
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[dh_serverless.plugins]\ndhcore = dh_serverless.dhcore.plugin" in text
