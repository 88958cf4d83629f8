"""``attributes`` of the rtsp sink, structured by the core's converter as the runtime does."""

from __future__ import annotations

import pytest
import yaml

from dh_serverless.core.config import structure
from dh_serverless.core.errors import ConfigError
from dh_serverless.sinks.rtsp import AuthConfig, RtspAttributes

PATH = ("spec", "triggers", "cam", "attributes", "sink", "attributes")

SEED = """
sink:
  kind: rtsp
  attributes:
    port: 8554
    path: "/processed"
    type: "video"
"""


def _structure(raw):
    return structure(raw, RtspAttributes, source="function.yaml", path=PATH)


def _problems(raw):
    with pytest.raises(ConfigError) as info:
        _structure(raw)
    return "\n".join(info.value.problems)


def test_defaults():
    a = _structure({})
    assert (a.port, a.path, a.codec, a.fps, a.type) == (8554, "/stream", "h264", 30, "video")
    assert (a.bitrate, a.quality, a.session_timeout, a.auth) == (0, 85, 60, None)


def test_the_originals_configuration_loads_unchanged():
    raw = yaml.safe_load(SEED)["sink"]["attributes"]
    a = _structure(raw)
    assert (a.port, a.path, a.type) == (8554, "/processed", "video")


def test_keys_match_ignoring_case_and_underscores():
    a = _structure({"sessionTimeout": 10, "Max_Viewers": 3, "sample_rate": 8000, "SampleRate": 1})
    assert (a.session_timeout, a.max_viewers) == (10, 3)


def test_the_originals_audio_keys():
    a = _structure({"type": "Audio", "sample_rate": 8000, "channels": 2})
    assert (a.type, a.sample_rate, a.channels) == ("audio", 8000, 2)
    assert _structure({"type": "audio"}).sample_rate == 16000  # the original's defaults
    assert _structure({"type": "audio"}).channels == 1


def test_auth():
    a = _structure({"auth": {"username": "u", "password": "p", "scheme": "basic"}})
    assert a.auth == AuthConfig("u", "p", "basic")
    assert "p" not in repr(a.auth).replace("'u'", "")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"type": "text"}, "video or audio"),
        ({"type": "audio", "sample_rate": 100}, "sampleRate"),
        ({"type": "audio", "channels": 0}, "channels"),
        ({"codec": "vp8"}, "codec"),
        ({"port": 70000}, "port"),
        ({"path": "stream"}, "path must start with /"),
        ({"fps": 0}, "fps"),
        ({"quality": 101}, "quality"),
        ({"auth": {"username": "u"}}, "password"),
        ({"auth": {"username": "u", "password": "p", "scheme": "ntlm"}}, "scheme"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_bad_values_name_the_key(raw, message):
    problems = _problems(raw)
    assert message in problems
    assert "sink.attributes" in problems
