"""Headless Chromium plays the viewer page: three viewers at once, one vanishing unannounced.

Runs ``chromium_viewers.py`` in a network namespace of its own (only ``lo``), so neither
the sink nor Chromium can send media anywhere but loopback.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from browser import CHROMIUM, netns_available, run_scenario

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed"),
    pytest.mark.skipif(not netns_available(), reason="cannot make a network namespace"),
]


@pytest.mark.parametrize("codec", ["h264", "vp8"])
def test_three_chromium_viewers_play_and_a_vanished_one_is_cleaned_up(codec):
    result = run_scenario(Path(__file__).with_name("chromium_viewers.py"), codec, timeout=150)
    log = result["log"]
    first, second = result["first"], result["second"]
    for before, after in zip(first, second, strict=True):
        assert before["state"] == "connected", log
        assert (after["width"], after["height"]) == (320, 240)
        # the video element's decoded-frame count grows (30 frames a second are sent)
        assert after["decoded"] - before["decoded"] >= 30, (before, after)
        assert "fps" in after["text"]
        assert "latency" in after["text"]
        assert after["latency"] is not None
    assert result["grow_seconds"] < 20, log
    assert result["survivors_grow_seconds"] < 20, log
    assert result["viewers_before"] == 3
    assert result["full_status"] == 503
    assert result["full_count"] == 1
    # viewerTimeout is 3 s: checked every 0.75 s
    assert result["cleanup_seconds"] <= 5, log
    assert result["viewers_after"] == 2
    assert result["closed_failed"] == 1
    for before, after in zip(result["survivors_before"], result["survivors_after"], strict=True):
        assert after["state"] == "connected"
        assert after["decoded"] - before["decoded"] >= 30, (before, after)


def test_a_page_on_another_origin_plays_the_stream_over_whep():
    result = run_scenario(Path(__file__).with_name("chromium_cross_origin.py"), timeout=120)
    assert "error" not in result, result
    assert result["post"] == 201
    assert result["location"].startswith("/processed/whep/")
    assert result["frames"] >= 30
    assert result["width"] == 320
    assert result["del"] == 200
    assert result["viewers_after"] == 0
