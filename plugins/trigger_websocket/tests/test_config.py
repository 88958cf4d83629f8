"""``websocket_addr`` and the attributes: the original's forms load, mistakes are named."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dh_serverless.core.config import CONVERTER
from dh_serverless.core.converter import structure
from dh_serverless.core.errors import ConfigError
from dh_serverless.triggers.websocket import (
    ListenAddress,
    WebsocketTriggerAttributes,
    parse_listen_address,
)


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        (":9001", None, 9001),
        ("0.0.0.0:9001", "0.0.0.0", 9001),
        ("127.0.0.1:0", "127.0.0.1", 0),
        ("localhost:9001", "localhost", 9001),
        ("[::1]:9001", "::1", 9001),
        (" :65535 ", None, 65535),
    ],
)
def test_go_listen_addresses(text, host, port):
    assert parse_listen_address(text) == ListenAddress(host, port)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("9001", "no port"),
        (":http", "must be a number from 0 to 65535"),
        (":65536", "must be a number from 0 to 65535"),
        (":", "must be a number"),
        ("::1:9001", "an IPv6 host needs brackets"),
        ("[nope]:9001", "is not an IPv6 address"),
        ("bad host:9001", "is not a host name or address"),
        (":٩٠٠١", "must be a number"),  # Arabic-Indic digits are digits to str.isdigit
    ],
)
def test_bad_addresses_say_what_is_expected(text, message):
    with pytest.raises(ValueError, match=message):
        parse_listen_address(text)


@given(st.text(max_size=40))
def test_any_text_parses_or_raises_value_error(text):
    try:
        address = parse_listen_address(text)
    except ValueError:
        return
    assert 0 <= address.port <= 65535
    assert parse_listen_address(address.url().removeprefix("ws://").removesuffix("/ws")).port == (
        address.port
    )


@given(
    host=st.one_of(
        st.none(),
        st.ip_addresses().map(str),
        st.from_regex(r"[a-z]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True),
    ),
    port=st.integers(0, 65535),
)
def test_valid_addresses_round_trip(host, port):
    text = f":{port}" if host is None else (f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    assert parse_listen_address(text) == ListenAddress(host, port)


def test_the_originals_attributes_and_defaults():
    a = CONVERTER.structure({"websocket_addr": ":9001"}, WebsocketTriggerAttributes)
    assert (a.is_stream, a.processing_interval, a.chunk_bytes, a.max_bytes, a.trim_bytes) == (
        False, 2.0, 160000, 1440000, 1120000,
    )  # fmt: skip
    assert a.message_limit == 1440000
    b = CONVERTER.structure(
        {"websocketAddr": "127.0.0.1:1", "processingInterval": "250ms", "IsStream": True},
        WebsocketTriggerAttributes,
    )
    assert (b.processing_interval, b.is_stream) == (0.25, True)
    assert CONVERTER.structure(
        {"websocket_addr": ":1", "processing_interval": 20}, WebsocketTriggerAttributes
    ).processing_interval == pytest.approx(0.02)


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({}, "spec.triggers.ws.attributes.websocketAddr: required key missing"),
        ({"websocket_addr": "9001"}, "websocket_addr: expected host:port"),
        ({"websocket_addr": ":1", "processing_interval": 0}, "processing_interval must be"),
        ({"websocket_addr": ":1", "processing_interval": "soon"}, "soon"),
        ({"websocket_addr": ":1", "processing_interval": True}, "milliseconds"),
        ({"websocket_addr": ":1", "trim_bytes": 2000000}, "trim_bytes (2000000) must not be"),
        ({"websocket_addr": ":1", "chunk_bytes": 0}, "chunk_bytes must be a positive"),
        ({"websocket_addr": ":1", "max_message_bytes": -1}, "max_message_bytes must be"),
        ({"websocket_addr": ":1", "websocket_adr": ":2"}, "websocket_adr"),
    ],
)
def test_mistakes_name_the_key(attributes, message):
    with pytest.raises(ConfigError) as raised:
        structure(attributes, WebsocketTriggerAttributes, source="function.yaml",
                  path=("spec", "triggers", "ws", "attributes"))  # fmt: skip
    assert message in str(raised.value)
