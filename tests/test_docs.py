"""The plugin docs stay honest: every hook documented with its exact signature, and tested."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from dh_serverless.hookspecs import specs

ROOT = Path(__file__).resolve().parent.parent
HOOKS = sorted(n for n, f in vars(specs).items() if n.startswith("dh_") and inspect.isfunction(f))


def test_every_hook_has_a_docstring_naming_each_parameter():
    for name in HOOKS:
        doc = inspect.getdoc(getattr(specs, name)) or ""
        for param in inspect.signature(getattr(specs, name)).parameters:
            assert f":param {param}:" in doc, f"{name} does not document {param}"
        assert ":return:" in doc, f"{name} does not document its return"


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_documented_with_its_signature(name):
    params = ", ".join(inspect.signature(getattr(specs, name)).parameters)
    docs = (ROOT / "docs" / "writing-a-plugin.md").read_text()
    assert f"### `{name}({params})`" in docs


@pytest.mark.parametrize("name", HOOKS)
def test_hook_has_a_test(name):
    sources = [p.read_text() for p in ROOT.glob("**/tests/test_*.py") if ".venv" not in p.parts]
    assert any(re.search(rf"def test_hook_{name}\b", s) for s in sources), f"no test_hook_{name}"
