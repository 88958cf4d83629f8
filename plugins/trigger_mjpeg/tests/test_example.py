"""contrib/examples/mjpeg-edges as its README runs it (ports changed to free ones)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import simplejpeg
from mjpeg_peers import dh_run, ffmpeg_source, read_parts, wait_ready

from dh_serverless.testing import free_port

pytest.importorskip("skimage")
EXAMPLE = Path(__file__).resolve().parents[3] / "contrib" / "examples" / "mjpeg-edges"
pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")


async def test_the_edges_example_restreams_edge_images(tmp_path):
    source, sink, health = free_port(), free_port(), free_port()
    for name in ("edges.py", "README.md"):
        shutil.copy(EXAMPLE / name, tmp_path / name)
    config = (EXAMPLE / "function.yaml").read_text()
    assert "url: http://127.0.0.1:8081/" in config
    assert "port: 8090" in config
    config = config.replace("127.0.0.1:8081", f"127.0.0.1:{source}").replace(
        "port: 8090", f"port: {sink}"
    )
    (tmp_path / "function.yaml").write_text(config)
    with (
        ffmpeg_source(source, size="640x480"),
        dh_run(tmp_path / "function.yaml", health, tmp_path / "log") as proc,
    ):
        await wait_ready(health, proc)
        parts = await read_parts(f"http://127.0.0.1:{sink}/stream", 3.0)
    assert len(parts) >= 10
    for jpeg in parts:
        edges = simplejpeg.decode_jpeg(jpeg, colorspace="GRAY")
        assert edges.shape == (480, 640, 1)
        assert edges.mean() < 80  # mostly black, with the test picture's edges in white
        assert edges.max() > 200
    assert not np.array_equal(parts[0], parts[-1])
    assert "edge detector ready" in (tmp_path / "log").read_text()
