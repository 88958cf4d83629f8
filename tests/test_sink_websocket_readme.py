"""The README's server-mode and client-mode walkthroughs, run as a user runs them.

plugins/sink_websocket/README.md feeds the sink from the http trigger with curl, so the walkthrough
needs both distributions and lives here, with the cross-distribution tests. The code blocks
are taken from that README as written; only the ports are replaced by free
ones (and the health server gets a free port) so that the test never clashes with anything.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from dh_serverless.testing.processes import (
    Commands,
    code_blocks,
    dh_command,
    free_port,
    wait_for_text,
)

DH = dh_command()

pytestmark = pytest.mark.timeout(90)

README = (Path(__file__).parents[1] / "plugins" / "sink_websocket" / "README.md").read_text()
PYTHON = code_blocks(README, "python")
YAML = code_blocks(README, "yaml")
CURL = shutil.which("curl")


@pytest.fixture
def processes(tmp_path):
    commands = Commands(tmp_path)  # the function starts first, so it stops first
    try:
        yield commands
    finally:
        commands.stop()


def curl(*args: str, cwd: Path | None = None) -> None:
    subprocess.run([CURL, "-s", "-o", "/dev/null", *args], check=True, timeout=10, cwd=cwd)


@pytest.mark.skipif(CURL is None, reason="the README's commands use curl")
def test_server_mode_walkthrough(tmp_path, processes):
    web, ws, health = free_port(), free_port(), free_port()
    main, watch, _ = PYTHON
    (tmp_path / "main.py").write_text(main)
    (tmp_path / "watch.py").write_text(watch.replace("8765", str(ws)))
    (tmp_path / "function.yaml").write_text(
        YAML[0].replace("port: 8080", f"port: {web}").replace("port: 8765", f"port: {ws}")
    )
    (tmp_path / "frame.jpg").write_bytes(b"\xff\xd8\xff\xe0fakejpeg\xff\xd9")
    _, run_log = processes.start("run", DH, "run", "function.yaml", "--health-port", str(health))
    wait_for_text(run_log, " ready (")
    _, watch_log = processes.start("watch", sys.executable, "watch.py")
    deadline = time.monotonic() + 10
    while (
        "1.0"
        not in subprocess.run(
            [CURL, "-s", f"http://127.0.0.1:{health}/metrics"], capture_output=True, text=True
        ).stdout.split('dh_websocket_clients{trigger="web"} ')[-1][:3]
    ):
        assert time.monotonic() < deadline, "watch.py never connected"
        time.sleep(0.1)
    url = f"http://127.0.0.1:{web}/"
    curl("-H", "Content-Type: application/json", "-d", '{"objects": 2}', url)
    curl("-H", "Content-Type: image/jpeg", "--data-binary", "@frame.jpg", url, cwd=tmp_path)
    out = wait_for_text(watch_log, "binary 14")
    assert out.splitlines()[:2] == [
        'text 14 {"objects": 2}', "binary 14 b'\\xff\\xd8\\xff\\xe0fakejpeg\\xff\\xd9'"
    ]  # fmt: skip


@pytest.mark.skipif(CURL is None, reason="the README's commands use curl")
def test_client_mode_walkthrough(tmp_path, processes):
    web, peer, health = free_port(), free_port(), free_port()
    main, _, receiver = PYTHON
    (tmp_path / "main.py").write_text(main)
    (tmp_path / "receiver.py").write_text(receiver.replace("9090", str(peer)))
    sink = yaml.safe_load(YAML[1])["attributes"]["sink"]
    assert sink["attributes"]["url"] == "ws://localhost:9090/frames"
    config = yaml.safe_load(YAML[0].replace("port: 8080", f"port: {web}"))
    sink["attributes"]["url"] = f"ws://127.0.0.1:{peer}/frames"
    sink["attributes"]["reconnectDelay"] = 0.2
    config["spec"]["triggers"]["web"]["attributes"]["sink"] = sink
    (tmp_path / "function.yaml").write_text(yaml.safe_dump(config))
    _, run_log = processes.start("run", DH, "run", "function.yaml", "--health-port", str(health))
    wait_for_text(run_log, " ready (")  # the receiver is not up yet: the start still succeeds
    _, receiver_log = processes.start("receiver", sys.executable, "receiver.py")
    wait_for_text(run_log, "websocket sink connected")
    curl(
        "-H", "Content-Type: image/jpeg", "--data-binary", "0123456789", f"http://127.0.0.1:{web}/"
    )
    assert "Received frame 1: 10 bytes" in wait_for_text(receiver_log, "Received frame 1")
