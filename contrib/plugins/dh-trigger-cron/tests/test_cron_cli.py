"""End to end: the installed plugin under ``dh-serverless``, as a real process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(30)

CLI = Path(sys.executable).with_name("dh-serverless")

HANDLER = """
import json, os

def handler(context, event):
    with open(os.environ["TICKS_FILE"], "a") as out:
        record = {"trigger": [event.trigger.kind, event.trigger.name], "body": event.body.decode(),
                  "content_type": event.content_type, "path": event.path, "headers": event.headers}
        out.write(json.dumps(record) + "\\n")
    return "ok"
"""


def write_function(tmp_path: Path, attributes: str) -> Path:
    (tmp_path / "ticks.py").write_text(HANDLER)
    config = tmp_path / "function.yaml"
    config.write_text(
        "apiVersion: nuclio.io/v1\n"
        "kind: NuclioFunction\n"
        "metadata: {name: cron-test}\n"
        "spec:\n"
        "  handler: ticks:handler\n"
        f"  env: [{{name: TICKS_FILE, value: '{tmp_path / 'ticks.jsonl'}'}}]\n"
        "  triggers:\n"
        "    tick:\n"
        "      kind: cron\n"
        f"      attributes: {attributes}\n"
    )
    return config


def test_ticks_reach_the_handler_until_sigterm(tmp_path: Path) -> None:
    attributes = "{interval: 50ms, event: {body: '{\"a\": 1}', headers: {X-Source: test}}}"
    config = write_function(tmp_path, attributes)
    ticks = tmp_path / "ticks.jsonl"
    process = subprocess.Popen(
        [str(CLI), "run", str(config), "--no-health"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (
            not ticks.exists() or len(ticks.read_text().splitlines()) < 3
        ):
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    records = [json.loads(line) for line in ticks.read_text().splitlines()]
    assert len(records) >= 3
    assert records[0] == {
        "trigger": ["cron", "tick"],
        "body": '{"a": 1}',
        "content_type": "",
        "path": "/",
        "headers": {"X-Source": "test"},
    }


def test_missing_interval_and_schedule_fails_validation(tmp_path: Path) -> None:
    config = write_function(tmp_path, "{event: {body: x}}")
    result = subprocess.run(
        [str(CLI), "validate", str(config)], capture_output=True, text=True, timeout=20, check=False
    )
    assert result.returncode == 2
    assert "spec.triggers.tick.attributes: set 'interval'" in result.stderr
