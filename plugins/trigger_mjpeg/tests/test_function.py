"""Whole functions run as a user runs them: ``dh-serverless run`` with an ffmpeg camera,
the mjpeg sink, ffmpeg and aiohttp viewers, and ``/metrics``."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import psutil
import pytest
from mjpeg_peers import (
    BIN,
    count_frames,
    dh_run,
    ffmpeg_source,
    free_port,
    metric,
    read_parts,
    scrape,
    wait_ready,
    write_function,
)

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")

#: the handler of the seed README's "Handler Function" section, verbatim
SEED_HANDLER = (Path(__file__).parent / "seed_handler.txt").read_text()

#: the seed README's trigger block, with a local camera and the mjpeg sink for rtsp
SEED_YAML = """\
apiVersion: nuclio.io/v1
kind: NuclioFunction
metadata:
  name: camera
spec:
  runtime: python
  handler: handler:handler
  triggers:
    mjpeg_stream:
      kind: mjpeg
      attributes:
        url: "http://127.0.0.1:{source}/stream.mjpg"  # MJPEG stream URL (required)
        processing_factor: 1                                # Frame sampling (default: 1)
        reconnect_delay: 200ms
        sink:                                               # Optional sink configuration
          kind: mjpeg                                       # Sink type
          attributes:
            port: {sink}
            path: "/stream"
      maxWorkers: 4
"""


async def test_the_seed_readme_example_end_to_end(tmp_path):
    source, sink, health = free_port(), free_port(), free_port()
    yaml_text = SEED_YAML.format(source=source, sink=sink)
    function = write_function(tmp_path, yaml_text, textwrap.dedent(SEED_HANDLER))
    log = tmp_path / "run.log"
    with ffmpeg_source(source, size="640x480"), dh_run(function, health, log) as proc:
        await wait_ready(health, proc)
        frames = await asyncio.to_thread(
            count_frames, f"http://127.0.0.1:{sink}/stream", 4.0, "-rw_timeout", "10000000"
        )
        text = await scrape(health)
        assert proc.poll() is None
    assert proc.returncode == 0  # SIGTERM: drained and stopped cleanly
    assert frames >= 30
    received = metric(text, "dh_mjpeg_frames_received_total", trigger="mjpeg_stream")
    processed = metric(text, "dh_mjpeg_frames_processed_total", trigger="mjpeg_stream")
    assert received >= frames
    assert processed >= frames
    assert metric(text, "dh_mjpeg_connected", trigger="mjpeg_stream") == 1
    assert metric(text, "dh_mjpeg_source_fps", trigger="mjpeg_stream") > 5
    assert metric(text, "dh_sink_age_seconds_count", trigger="mjpeg_stream") >= frames
    assert metric(text, "dh_mjpeg_frames_dropped_total", reason="failed") == 0
    assert metric(text, "dh_mjpeg_sink_frames_sent_total", trigger="mjpeg_stream") >= frames
    lines = log.read_text()
    assert re.search(rf"Processing frame 1 from http://127.0.0.1:{source}/stream.mjpg", lines)
    assert re.search(r"Frame size: \d+ bytes", lines)
    assert re.search(r"mjpeg trigger mjpeg_stream stopped after \d+ frames", lines)
    assert "Traceback" not in lines


SLOW_HANDLER = """
import random
import struct
import time


def handler(context, event):
    time.sleep(random.uniform(0.02, 0.3))  # 4 workers: ~25 frames/s, completing out of order
    n = event.get_field("frame_num")
    tag = b"frame=%d" % n
    body = event.body
    comment = b"\\xff\\xfe" + struct.pack(">H", len(tag) + 2) + tag
    return context.Response(body=body[:2] + comment + body[2:], content_type="image/jpeg")
"""

SLOW_YAML = """\
apiVersion: nuclio.io/v1
kind: NuclioFunction
metadata:
  name: slow
spec:
  runtime: python
  handler: handler:handler
  triggers:
    cam:
      kind: mjpeg
      maxWorkers: 4
      attributes:
        url: http://127.0.0.1:{source}/
        reconnectDelay: 200ms
        sink:
          kind: mjpeg
          attributes: {{port: {sink}}}
"""


def frame_number(jpeg: bytes) -> int:
    match = re.match(rb"\xff\xd8\xff\xfe..frame=(\d+)", jpeg, re.DOTALL)
    assert match, jpeg[:20]
    return int(match.group(1))


async def test_a_slow_handler_on_four_workers_keeps_order_and_memory_flat(tmp_path):
    source, sink, health = free_port(), free_port(), free_port()
    function = write_function(tmp_path, SLOW_YAML.format(source=source, sink=sink), SLOW_HANDLER)
    with (
        ffmpeg_source(source, size="1280x720", rate=60),
        dh_run(function, health, tmp_path / "log") as proc,
    ):
        await wait_ready(health, proc)
        viewer = asyncio.ensure_future(read_parts(f"http://127.0.0.1:{sink}/stream", 9.0))
        ps = psutil.Process(proc.pid)
        await asyncio.sleep(3)
        rss_early = ps.memory_info().rss
        await asyncio.sleep(5.5)
        rss_late = ps.memory_info().rss
        parts = await viewer
        text = await scrape(health)
    numbers = [frame_number(p) for p in parts]
    assert len(numbers) >= 40
    assert numbers == sorted(set(numbers))  # strictly in frame order at the viewer
    superseded = metric(text, "dh_mjpeg_frames_dropped_total", trigger="cam", reason="superseded")
    received = metric(text, "dh_mjpeg_frames_received_total", trigger="cam")
    assert superseded > 0.2 * received  # 60 fps in, ~25 handled: the rest dropped and counted
    assert rss_late - rss_early < 25 * 2**20, (rss_early, rss_late)
    # latency does not creep: ages stay within the handler time plus the order wait
    count = metric(text, "dh_sink_age_seconds_count", trigger="cam")
    within_1s = metric(text, "dh_sink_age_seconds_bucket", trigger="cam", le="1.0")
    assert within_1s >= 0.95 * count


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ("processing_factor: 0", "processingFactor must be at least 1"),
        ("processingFactor: 2\n        bogus: 1", "bogus"),
        ("readTimeout: soon", "readTimeout"),
        ("password: x", "password is set but username is not"),
        ("maxFrameSize: 10", "maxFrameSize must be at least 1024"),
    ],
)
def test_bad_attributes_exit_2_naming_the_key(tmp_path, attributes, message):
    yaml_text = f"""\
apiVersion: nuclio.io/v1
kind: NuclioFunction
metadata: {{name: bad}}
spec:
  handler: handler:handler
  triggers:
    cam:
      kind: mjpeg
      attributes:
        url: http://127.0.0.1:1/
        {attributes}
"""
    function = write_function(tmp_path, yaml_text, "def handler(context, event):\n    return ''\n")
    done = subprocess.run(
        [str(BIN / "dh-serverless"), "validate", str(function)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "spec.triggers.cam.attributes" in done.stderr


def test_missing_url_exits_2(tmp_path):
    yaml_text = "spec:\n  handler: handler:handler\n  triggers:\n    cam: {kind: mjpeg}\n"
    function = write_function(tmp_path, yaml_text, "def handler(context, event):\n    return ''\n")
    done = subprocess.run(
        [str(BIN / "dh-serverless"), "validate", str(function)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "url" in done.stderr
