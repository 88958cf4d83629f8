"""Build something expensive once per test run, even with parallel workers (pytest-xdist).

::

    @pytest.fixture(scope="session")
    def wheelhouse(tmp_path_factory):
        return build_once(tmp_path_factory, "wheelhouse", lambda path: make_wheels(path))

The first worker that asks builds it (the others wait on a file lock) into a folder every
worker of this run sees; a build that failed is tried again by the next one that asks.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

__all__ = ("build_once",)


def build_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], object]
) -> Path:
    """The folder ``name`` made by ``build(folder)``, once for the whole run.

    Without pytest-xdist it is an ordinary ``tmp_path_factory.mktemp(name)``.
    """
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        path = tmp_path_factory.mktemp(name)
        build(path)
        return path
    # Each worker's base temp is <run>/popen-gwN; <run> is shared by the run's workers.
    root = tmp_path_factory.getbasetemp().parent
    path = root / name
    done = root / f"{name}.done"
    with (root / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir()
            build(path)
            done.touch()
    return path
