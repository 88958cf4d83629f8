"""contrib/examples/mjpeg-rtsp as its README runs it: an ffmpeg camera, the mjpeg trigger, the
edge detector, and the rtsp sink played by ffprobe and ffmpeg (ports changed to free ones)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from dh_serverless.testing.processes import stop_process

EXAMPLE = Path(__file__).resolve().parents[1] / "contrib" / "examples" / "mjpeg-rtsp"
DH = Path(sys.executable).with_name("dh-serverless")
pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")


def _wait_ready(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"the function never became ready:\n{log.read_text()}")


def test_the_example_plays_edges_over_rtsp(tmp_path, free_port):
    camera, rtsp, health = free_port(), free_port(), free_port()
    shutil.copy(EXAMPLE / "edges.py", tmp_path / "edges.py")
    config = (EXAMPLE / "function.yaml").read_text()
    assert '"http://127.0.0.1:8081/"' in config
    assert "port: 8554" in config
    config = config.replace("127.0.0.1:8081", f"127.0.0.1:{camera}")
    (tmp_path / "function.yaml").write_text(config.replace("port: 8554", f"port: {rtsp}"))
    source = subprocess.Popen(  # the README's camera, on a free port, looping for the test
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
         "testsrc2=size=640x480:rate=30", "-f", "mpjpeg", "-content_type",
         "multipart/x-mixed-replace;boundary=ffmpeg", "-listen", "1",
         f"http://127.0.0.1:{camera}/"],
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    log = tmp_path / "log"
    with log.open("wb") as out:
        function = subprocess.Popen(
            [DH, "run", "function.yaml", "--health-port", str(health)],
            cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    try:
        _wait_ready(health, function, log)
        url = f"rtsp://127.0.0.1:{rtsp}/processed"
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-select_streams", "v:0",
             "-show_entries", "stream=codec_name,width,height", "-of", "json", url],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert probe.returncode == 0, probe.stderr + log.read_text()
        stream = json.loads(probe.stdout)["streams"][0]
        assert (stream["codec_name"], stream["width"], stream["height"]) == ("h264", 640, 480)
        decoded = subprocess.run(
            ["ffmpeg", "-hide_banner", "-rtsp_transport", "tcp", "-i", url, "-t", "3",
             "-f", "null", "-"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert decoded.returncode == 0, decoded.stderr
        frames = int(decoded.stderr.rsplit("frame=", 1)[1].split()[0])
        assert frames >= 30, decoded.stderr  # about 90 at 30 fps; bounded below for a busy CI
        assert "error while decoding" not in decoded.stderr
    finally:
        stop_process(function)
        stop_process(source)
    assert function.returncode == 0, log.read_text()
    assert f"rtsp://127.0.0.1:{rtsp}/processed" in log.read_text()
