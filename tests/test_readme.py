"""The README's tour works as written: its handler, function.yaml and test, run for real."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dh_serverless.testing.processes import code_blocks

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def blocks(language: str) -> list[str]:
    return code_blocks((ROOT / "README.md").read_text(), language)


def run(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_tour_handler_config_and_test_work_as_written(tmp_path: Path) -> None:
    handler = next(b for b in blocks("python") if b.startswith("# greet.py"))
    test = next(b for b in blocks("python") if "def test_greet" in b)
    config = next(b for b in blocks("yaml") if b.startswith("# function.yaml"))
    (tmp_path / "greet.py").write_text(handler)
    (tmp_path / "test_greet.py").write_text(test)
    (tmp_path / "function.yaml").write_text(config)

    validated = run(BIN / "dh-serverless", "validate", "function.yaml", cwd=tmp_path)
    assert validated.returncode == 0, validated.stderr

    invoked = run(BIN / "dh-serverless", "invoke", "function.yaml", "--body", "Ada", cwd=tmp_path)
    assert invoked.returncode == 0, invoked.stderr
    assert invoked.stdout.splitlines() == ["200 application/json", "", '{"message": "Hello, Ada!"}']

    tested = run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout
    assert "1 passed" in tested.stdout
