"""The README's walkthrough, run as a user runs it: its code blocks as written, only the
port 9001 replaced by a free one (and the health server given a free port)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dh_serverless.testing.processes import (
    Commands,
    code_blocks,
    dh_command,
    free_port,
    wait_for_text,
)

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="the walkthrough uses ffmpeg"),
]

README = (Path(__file__).parents[1] / "README.md").read_text()


@pytest.fixture
def processes(tmp_path):
    commands = Commands(tmp_path)
    try:
        yield commands
    finally:
        commands.stop()


def test_the_tone_walkthrough_prints_what_the_readme_says(tmp_path, processes):
    main, send = code_blocks(README, "python")
    function_yaml = code_blocks(README, "yaml")[0]
    run_cmd, send_cmd = code_blocks(README, "sh")[1:3]
    expected = code_blocks(README, "text")[0]
    assert run_cmd.split() == ["dh-serverless", "run", "function.yaml"]
    assert send_cmd.split() == ["python", "send.py"]
    port = str(free_port())
    (tmp_path / "main.py").write_text(main)
    (tmp_path / "send.py").write_text(send.replace("9001", port))
    (tmp_path / "function.yaml").write_text(function_yaml.replace("9001", port))
    _, run_log = processes.start(
        "run", dh_command(), "run", "function.yaml", "--health-port", str(free_port())
    )
    wait_for_text(run_log, " ready (")
    result = subprocess.run(
        [sys.executable, "send.py"], cwd=tmp_path, capture_output=True, text=True, timeout=30,
        env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected, result.stdout
