"""Fixtures for the cross-distribution tests: a wheelhouse and venvs installed from it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INSTALL_SH = ROOT / "contrib" / "deploy" / "install.sh"

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
    """``free_port()``: a TCP port on 127.0.0.1 that nothing listens on right now."""

    def free_port() -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])

    return free_port


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One wheel per distribution, built by ``make wheels`` (ours only, no third-party)."""
    path = tmp_path_factory.mktemp("wheelhouse")
    _run(["make", "-C", ROOT, "wheels", f"WHEELHOUSE={path}", f"PYTHON={sys.executable}"])
    return path


@pytest.fixture
def install(wheelhouse: Path) -> Callable[[Path, str], Path]:
    """``install(venv, extras)`` runs contrib/deploy/install.sh as the Containerfile does.

    Returns the venv's ``bin`` folder. The wheelhouse holds our distributions only, so pip
    takes third-party ones from the index (the image's wheelhouse has them all instead).
    """

    def install(venv: Path, extras: str) -> Path:
        env = {**os.environ, "PYTHON": sys.executable}
        env.pop("PIP_NO_INDEX", None)
        _run(["sh", INSTALL_SH, venv, wheelhouse, extras], env=env)
        return venv / "bin"

    return install
