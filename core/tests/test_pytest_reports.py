"""A failing test is reported as a failure, with its traceback, and the run goes on.

On CPython 3.11 the interpreter's AST builder keeps its recursion counter per interpreter,
not per call: when the garbage collector runs a finalizer in the middle of ``ast.parse``
and that finalizer parses too (a logged traceback does, for its ``^^^`` marks; asyncio logs
one for every task whose exception nobody retrieved), the outer parse ends with
``SystemError: AST constructor recursion depth mismatch``. pytest parses the failing test's
source to format its traceback, so the run died in an ``INTERNALERROR`` and the real error
was never shown. ``dh_serverless.testing.pytest_plugin`` pauses the collector during
``ast.parse``; these tests run pytest in a subprocess on a test that fails exactly then.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# Garbage that is always waiting for the collector: each Chain freed by it makes the next
# one, and parses source as a logged traceback does on 3.11 (asyncio's "Task exception was
# never retrieved" is this, from Task.__del__).
FAILING = """
import ast
import gc

import pytest


class Chain:
    left = 2000

    def __init__(self):
        self.me = self  # a cycle: only the collector frees it

    def __del__(self):
        if Chain.left > 0:
            Chain.left -= 1
            Chain()
            ast.parse("total = first + second")


@pytest.fixture
def collector_often():
    before = gc.get_threshold()
    gc.set_threshold(5, 1, 1)
    Chain()
    yield
    Chain.left = 0
    gc.set_threshold(*before)


def helper(value):
    return {"value": value, "twice": [value, value]}


def test_fails_while_the_collector_runs_finalizers(collector_often):
    result = helper(1)
    assert result["twice"] == [1, 2], "deliberate failure"


def test_after_the_failure():
    assert True
"""


def run_pytest(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", *args],
        cwd=folder, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("tb", ["auto", "long", "short"])
def test_a_failure_is_reported_not_an_internal_error(tmp_path, tb):
    (tmp_path / "test_deliberate.py").write_text(FAILING)
    result = run_pytest(tmp_path, f"--tb={tb}", "test_deliberate.py")
    output = result.stdout + result.stderr
    assert "INTERNALERROR" not in output, output[-4000:]
    assert result.returncode == 1, output[-4000:]
    assert "1 failed, 1 passed" in result.stdout, output[-4000:]
    assert "deliberate failure" in result.stdout
    assert "test_deliberate.py:" in result.stdout  # the traceback names the failing line


def test_the_guard_is_loaded_and_restores_the_collector():
    import ast
    import gc

    from dh_serverless.testing import pytest_plugin

    assert ast.parse is pytest_plugin.parse_with_collector_paused
    assert gc.isenabled()
    assert ast.dump(ast.parse("a + b")) == ast.dump(pytest_plugin.REAL_AST_PARSE("a + b"))
    assert gc.isenabled()
    with pytest.raises(SyntaxError):
        ast.parse("a +")
    assert gc.isenabled()
    gc.disable()
    try:
        ast.parse("a")
        assert not gc.isenabled()  # a caller's own gc.disable() is left alone
    finally:
        gc.enable()
