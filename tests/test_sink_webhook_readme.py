"""The README's walkthrough, run as a user runs it: receiver, function, curl, retry.

plugins/sink_webhook/README.md feeds the sink from the http trigger with curl, so the walkthrough
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

README = (Path(__file__).parents[1] / "plugins" / "sink_webhook" / "README.md").read_text()
PYTHON = code_blocks(README, "python")
YAML = code_blocks(README, "yaml")
CURL = shutil.which("curl")


def test_original_sink_block_loads():
    sink = yaml.safe_load(YAML[1])["sink"]
    assert sink["kind"] == "webhook"
    assert sink["attributes"]["maxRetries"] == 3


@pytest.mark.skipif(CURL is None, reason="the README's commands use curl")
def test_walkthrough_with_a_receiver_that_comes_back(tmp_path):
    web, hook, health = free_port(), free_port(), free_port()
    main, receiver = PYTHON
    (tmp_path / "main.py").write_text(main)
    (tmp_path / "receiver.py").write_text(receiver.replace("8888", str(hook)))
    (tmp_path / "function.yaml").write_text(
        YAML[0].replace("port: 8080", f"port: {web}").replace("127.0.0.1:8888", f"127.0.0.1:{hook}")
    )
    commands = Commands(tmp_path)
    fn = None
    try:
        rcv, rcv_log = commands.start("receiver", sys.executable, "receiver.py")
        wait_for_text(rcv_log, "Running on")
        fn, fn_log = commands.start("run", DH, "run", "function.yaml", "--health-port", str(health))
        wait_for_text(fn_log, " ready (")
        answer = subprocess.run(
            [CURL, "-s", "--data-binary", "some bytes", f"http://127.0.0.1:{web}/?frame_num=5"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout  # fmt: skip
        assert answer == '{"size": 10, "frame": "5"}'
        out = wait_for_text(rcv_log, "X-DH-Trigger")
        assert 'application/json {"size": 10, "frame": "5"} {\'X-DH-Frame-Number\': \'5\'' in out

        commands.stop(rcv)  # the receiver goes away; a result sent meanwhile is retried
        subprocess.run(
            [CURL, "-s", "-o", "/dev/null", "--data-binary", "late",
             f"http://127.0.0.1:{web}/?frame_num=6"], timeout=10, check=True,
        )  # fmt: skip
        time.sleep(0.5)
        commands.start("receiver", sys.executable, "receiver.py")
        assert "'X-DH-Frame-Number': '6'" in wait_for_text(rcv_log, '"frame": "6"', timeout=20)
    finally:
        if fn is not None:
            commands.stop(fn)  # the function first: it closes its connections
        commands.stop()
