"""Fixtures for the cross-distribution tests: a wheelhouse and venvs installed from it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from dh_serverless.testing import free_port as testing_free_port
from dh_serverless.testing.shared import build_once

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "contrib" / "deploy"

Run = Callable[..., subprocess.CompletedProcess[str]]


def _run(
    cmd: list[str | os.PathLike[str]], *, env: Mapping[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        cmd, capture_output=True, text=True, check=False, env=env, timeout=timeout
    )
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, cmd))} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return result


@pytest.fixture(scope="session")
def run_ok() -> Run:
    """``run_ok(cmd)``: run a command, failing the test with its output if it exits non-zero."""
    return _run


@pytest.fixture(scope="session")
def free_port() -> Callable[[], int]:
    """``free_port()``: :func:`dh_serverless.testing.free_port`, as a fixture."""
    return testing_free_port


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``make wheels``: one wheel per distribution, ours only (built once per run; without
    build isolation, as hatchling is installed here: an isolated build of one distribution is
    what installing a plugin from its folder does, in ``test_wheelhouse`` and
    ``test_plugin_template``)."""
    return build_once(
        tmp_path_factory,
        "wheelhouse",
        lambda path: _run(
            [
                *("make", "-C", ROOT, "wheels", f"WHEELHOUSE={path}", f"PYTHON={sys.executable}"),
                "PIP_WHEEL_OPTIONS=--no-build-isolation",
            ]
        ),
    )


@pytest.fixture(scope="session")
def image_wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Containerfile's build stage: our wheels plus every third-party dependency
    (built once per run; without build isolation, as hatchling is installed here: the
    isolated build is ``make wheels``'s, in :func:`wheelhouse`)."""
    env = {**os.environ, "PYTHON": sys.executable}
    return build_once(
        tmp_path_factory,
        "image-wheelhouse",
        lambda path: _run(
            ["sh", DEPLOY / "wheelhouse.sh", ROOT, path, "--no-build-isolation"], env=env
        ),
    )


def _install(venv: Path, wheelhouse: Path, extras: str, *, offline: bool) -> Path:
    env = {**os.environ, "PYTHON": sys.executable}
    env.pop("PIP_NO_INDEX", None)
    if offline:
        # As in the image: nothing but the wheelhouse, not even this machine's pip settings.
        env = {k: v for k, v in env.items() if not k.startswith("PIP_") or k == "PIP_COMPILE"}
        env.update(PIP_NO_INDEX="1", PIP_CONFIG_FILE=os.devnull)
    _run(["sh", DEPLOY / "install.sh", venv, wheelhouse, extras], env=env)
    return venv / "bin"


@pytest.fixture
def install(wheelhouse: Path) -> Callable[[Path, str], Path]:
    """``install(venv, extras)``: install.sh from ``make wheels``, third-party from the index.

    Returns the venv's ``bin`` folder.
    """
    return lambda venv, extras: _install(venv, wheelhouse, extras, offline=False)


@pytest.fixture
def image_install(image_wheelhouse: Path) -> Callable[[Path, str], Path]:
    """``image_install(venv, extras)``: the Containerfile's runtime stage, offline.

    Returns the venv's ``bin`` folder.
    """
    return lambda venv, extras: _install(venv, image_wheelhouse, extras, offline=True)
