"""contrib/examples/mjpeg-edges with the webrtc sink (function-webrtc.yaml), end to end."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from browser import netns_available, run_scenario

pytest.importorskip("skimage")
pytest.importorskip("dh_serverless.triggers.mjpeg")
pytestmark = [
    pytest.mark.timeout(200),
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed"),
    pytest.mark.skipif(not netns_available(), reason="cannot make a network namespace"),
]


def test_the_edges_example_plays_over_webrtc():
    result = run_scenario(Path(__file__).with_name("example_edges.py"), timeout=120)
    assert result["sizes"] == [[640, 480]], result["log"]
    # Sobel edges of the test picture: mostly black, its edges in white
    assert result["mean"] < 80
    assert result["max"] > 200
    assert result["viewers_metric"] == 1
    assert result["encoded"] >= 30
    assert result["sent"] >= 30
    assert result["exit"] == 0
    assert "edge detector ready" in result["log"]
