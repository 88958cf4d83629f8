"""Logs: readable lines on a terminal, JSON lines otherwise (what an operator's tools read)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent

HANDLER = """
def handler(context, event):
    context.logger.info_with("greeted", name="Ada")
    return "hi"
"""
FUNCTION = """
apiVersion: nuclio.io/v1
kind: NuclioFunction
metadata: {name: logs}
spec:
  handler: main:handler
  triggers: {web: {kind: http}}
"""


def invoke(
    tmp_path: Path, stderr: int | None = None
) -> tuple[subprocess.CompletedProcess[bytes], bytes]:
    (tmp_path / "main.py").write_text(HANDLER)
    (tmp_path / "function.yaml").write_text(FUNCTION)
    cmd = [BIN / "dh-serverless", "invoke", tmp_path / "function.yaml"]
    if stderr is None:
        result = subprocess.run(cmd, capture_output=True, timeout=60, check=False)
        return result, result.stderr
    result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=stderr, timeout=60, check=False)
    return result, b""


def test_json_lines_when_stderr_is_not_a_terminal(tmp_path):
    result, err = invoke(tmp_path)
    assert result.returncode == 0
    (entry,) = [json.loads(line) for line in err.decode().splitlines()]
    assert entry["level"] == "info"
    assert entry["logger"] == "dh_serverless.function"
    assert entry["message"] == "greeted"
    assert entry["with"] == {"name": "Ada", "worker_id": "0"}


def test_readable_lines_on_a_terminal(tmp_path):
    leader, follower = pty.openpty()
    try:
        result, _ = invoke(tmp_path, stderr=follower)
        os.close(follower)
        follower = -1
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed: everything was read
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        if follower != -1:
            os.close(follower)
        os.close(leader)
    assert result.returncode == 0
    (line,) = b"".join(chunks).decode().splitlines()
    assert " INFO    dh_serverless.function: greeted  name='Ada' worker_id='0'" in line
    assert not line.startswith("{")
