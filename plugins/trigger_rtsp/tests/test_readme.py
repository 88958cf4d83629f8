"""The README's "Try it" walkthrough, run as written (ports changed to free ones)."""

from __future__ import annotations

import itertools
import re
import shlex
import time
from pathlib import Path

import pytest
from rtsp_peers import free_port, needs_gst

from dh_serverless.testing.processes import Commands, code_blocks, dh_command, wait_for_text

ROOT = Path(__file__).resolve().parents[3]
README = (ROOT / "plugins" / "trigger_rtsp" / "README.md").read_text()
pytestmark = [needs_gst, pytest.mark.timeout(90)]


def test_try_it_logs_the_tones_frequency(tmp_path):
    server_cmd, run_cmd = (b.strip() for b in code_blocks(README, "sh")[1:3])
    (handler,) = (b for b in code_blocks(README, "python") if b.startswith("# tone.py"))
    (config,) = (b for b in code_blocks(README, "yaml") if b.startswith("# function.yaml"))
    port = str(free_port())
    assert "--port 8554" in server_cmd
    assert "rtsp://127.0.0.1:8554/mystream" in config
    assert run_cmd == "dh-serverless run function.yaml"
    (tmp_path / "tone.py").write_text(handler)
    (tmp_path / "function.yaml").write_text(config.replace(":8554/", f":{port}/"))
    server = shlex.split(server_cmd.replace("--port 8554", f"--port {port}"))
    server[1] = str(ROOT / server[1])  # "run from the repository's root"
    commands = Commands(tmp_path)
    try:
        commands.start("server", *server)
        _, log = commands.start(
            "function", dh_command(), "run", "function.yaml", "--health-port", str(free_port())
        )
        wait_for_text(log, "s of audio, loudest at 440 Hz", timeout=40)
        for _ in range(100):
            seconds = [
                float(s)
                for s in re.findall(r"([\d.]+) s of audio, loudest at 440 Hz", log.read_text())
            ]
            if len(seconds) >= 3:
                break
            time.sleep(0.2)
        assert len(seconds) >= 3, log.read_text()
        assert all(1.5 <= b - a <= 2.5 for a, b in itertools.pairwise(seconds))
    finally:
        commands.stop()
