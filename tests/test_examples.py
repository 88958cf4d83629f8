"""The runnable examples in contrib/examples stay valid and answer as documented."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(ROOT.glob("contrib/examples/*/function.yaml"))
CLI = Path(sys.executable).with_name("dh-serverless")


@pytest.mark.parametrize("function", EXAMPLES, ids=lambda p: p.parent.name)
def test_example_is_valid(function: Path, run_ok) -> None:
    run_ok([CLI, "validate", function])


@pytest.mark.parametrize(
    ("args", "greeting"),
    [(["--body", "World"], "Hello, World!"), ([], "Hello, world!")],
)
def test_hello_greets_the_posted_name_or_the_world(args, greeting, run_ok) -> None:
    hello = ROOT / "contrib" / "examples" / "hello" / "function.yaml"
    out = run_ok([CLI, "invoke", hello, *args]).stdout
    assert out.splitlines()[0] == "200 text/plain"
    assert out.rstrip().endswith(greeting)
