"""What `dh-serverless run` says when it starts: the health port it took for `--health-port 0`,
and one line with exit code 1 when a trigger's `start()` raises `OSError` (a port in use)."""

from __future__ import annotations

import re
import socket
import subprocess
import urllib.request
from pathlib import Path

from dh_serverless.testing.processes import dh_command, stop_process, wait_for_text

HANDLER = "def handler(context, event):\n    return 'hi'\n"
FUNCTION = """\
apiVersion: nuclio.io/v1
kind: NuclioFunction
metadata: {{name: start}}
spec:
  handler: main:handler
  triggers:
    web: {{kind: http, attributes: {{port: {port}, host: 127.0.0.1}}}}
"""


def write_function(folder: Path, port: int) -> Path:
    (folder / "main.py").write_text(HANDLER)
    config = folder / "function.yaml"
    config.write_text(FUNCTION.format(port=port))
    return config


def test_health_port_0_logs_the_port_it_took(tmp_path: Path) -> None:
    config = write_function(tmp_path, 0)
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [dh_command(), "run", str(config), "--health-host", "127.0.0.1",
             "--health-port", "0", "--log-format", "text"],
            cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        text = wait_for_text(log, " ready (", timeout=30)
        found = re.search(r"health server on 127\.0\.0\.1:(\d+) \(/live, /ready, /metrics\)", text)
        assert found, text
        port = int(found.group(1))
        assert port != 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/live", timeout=5) as reply:
            assert reply.status == 200
    finally:
        code = stop_process(proc)
    assert code == 0, log.read_text()


def test_a_trigger_that_cannot_bind_its_port_exits_1_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:  # no SO_REUSEADDR/SO_REUSEPORT: nobody may share it
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_function(tmp_path, port)
        done = subprocess.run(
            [dh_command(), "run", str(config), "--health-host", "127.0.0.1",
             "--health-port", "0", "--log-format", "text"],
            cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    assert errors[0].startswith(f"error: http trigger 'web' cannot listen on 127.0.0.1:{port}: "), (
        output
    )
    assert "in use" in errors[0].lower(), output
    assert errors[0].endswith("choose another port (attributes.port)"), output
    assert "Traceback" not in output
