"""The sink's attributes: the original's YAML loads unchanged; mistakes name the key."""

from __future__ import annotations

import contextlib

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from dh_serverless.core.config import structure
from dh_serverless.core.errors import ConfigError
from dh_serverless.sinks.websocket import WebsocketAttributes
from dh_serverless.testing.function import InProcessFunction

PATH = ("spec", "triggers", "cam", "attributes", "sink", "attributes")

# The sink block of the original's test/mjpeg-websocket configuration, verbatim.
ORIGINAL = """
url: "ws://localhost:9090/frames"
messageType: "binary"
timeout: 10
"""


def load(data: object) -> WebsocketAttributes:
    return structure(data, WebsocketAttributes, source="function.yaml", path=PATH)


def test_original_yaml_is_client_mode():
    a = load(yaml.safe_load(ORIGINAL))
    assert a.client_mode
    assert (a.url, a.message_type, a.timeout) == ("ws://localhost:9090/frames", "binary", 10)


def test_defaults_are_server_mode():
    a = load({})
    assert not a.client_mode
    assert (a.host, a.port, a.path, a.message_type) == ("0.0.0.0", 8765, "/stream", "auto")


def test_snake_case_and_case_insensitive_keys():
    a = load({"message_type": "TEXT", "Client_Queue_Size": 3, "heartbeat": "500ms"})
    assert (a.message_type, a.client_queue_size, a.heartbeat) == ("text", 3, 0.5)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"messageType": "json"}, "messageType must be one of auto, binary, text"),
        ({"mode": "client"}, "url: required in client mode"),
        ({"mode": "server", "url": "ws://x/"}, "url: only for client mode"),
        ({"url": "ftp://x/"}, "url must be a URL such as ws://host"),
        ({"port": 70000}, "port must be between 1 and 65535"),
        ({"path": "stream"}, "path must be an absolute path"),
        ({"clientQueueSize": 0}, "clientQueueSize must be at least 1"),
        ({"timeout": "soon"}, "invalid duration 'soon'"),
        ({"messageTyp": "text"}, "did you mean 'messageType'"),
    ],
)
def test_mistakes_name_the_key(data, message):
    with pytest.raises(ConfigError) as info:
        load(data)
    text = str(info.value)
    assert message in text
    assert ".".join(PATH) in text


async def test_invalid_sink_stops_the_start_with_exit_2_naming_the_key():
    sink = {"kind": "websocket", "attributes": {"messageType": "jpeg"}}
    function = InProcessFunction({"web": {"kind": "test", "attributes": {"sink": sink}}})
    with pytest.raises(ConfigError) as info:
        await function.start()
    assert info.value.exit_code == 2  # what `dh-serverless run` and `validate` exit with
    assert "spec.triggers.web.attributes.sink.attributes" in str(info.value)
    assert "messageType" in str(info.value)


_values = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=True),
    st.text(max_size=30), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
)  # fmt: skip
_keys = st.sampled_from(
    ["mode", "url", "messageType", "timeout", "headers", "reconnectDelay", "maxReconnectDelay",
     "host", "port", "path", "clientQueueSize", "maxClients", "heartbeat", "sendMetadata", "x"]
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.dictionaries(_keys, _values, max_size=6), _values))
def test_any_attributes_load_or_raise_config_error(data):
    with contextlib.suppress(ConfigError):
        load(data)
