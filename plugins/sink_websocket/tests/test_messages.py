"""How a result becomes a message, fuzzed: never an exception, text only when UTF-8."""

from __future__ import annotations

import datetime
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dh_serverless.hookspecs import Event, Response
from dh_serverless.sinks.websocket._messages import encode, metadata_json

_content_types = st.one_of(
    st.sampled_from(
        ["text/plain", "application/json", "image/jpeg", "application/ld+json; charset=utf-8",
         "TEXT/HTML", "", "application/octet-stream"]
    ),
    st.text(max_size=40),
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    body=st.one_of(st.binary(max_size=200), st.text(max_size=50).map(str.encode)),
    content_type=_content_types,
    message_type=st.sampled_from(["auto", "binary", "text"]),
)
def test_encode_never_raises_and_keeps_the_bytes(body, content_type, message_type):
    message = encode(Response(body=body, content_type=content_type), message_type)
    if message is None:
        assert message_type == "text"
        return
    is_text, payload = message
    if is_text:
        assert isinstance(payload, str)
        assert payload.encode() == body
    else:
        assert payload == body
    if message_type == "binary":
        assert not is_text


def test_auto_chooses_by_content_type():
    assert encode(Response(body=b"{}", content_type="application/json"), "auto") == (True, "{}")
    assert encode(Response(body=b"abc", content_type="image/jpeg"), "auto") == (False, b"abc")
    assert encode(Response(body=b"\xff", content_type="text/plain"), "auto") == (False, b"\xff")
    assert encode(Response(body=b"\xff", content_type="text/plain"), "text") is None


_field_values = st.one_of(
    st.none(), st.integers(), st.text(max_size=20), st.floats(), st.binary(max_size=10),
    st.datetimes(timezones=st.none() | st.timezones()), st.lists(st.integers(), max_size=2),
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    fields=st.dictionaries(st.sampled_from(["frame_num", "timestamp", "url", "x"]), _field_values),
    url=st.one_of(st.none(), st.text(max_size=20)),
    timestamp=st.one_of(st.none(), st.integers(0, 2**31), st.datetimes()),
)
def test_metadata_is_always_a_json_object(fields, url, timestamp):
    event = Event(body=b"", fields=fields, url=url, timestamp=timestamp, _id="id-1")
    data = json.loads(metadata_json(Response(body=b"abc", content_type="image/jpeg"), event))
    assert set(data) == {"frame_num", "timestamp", "source", "event_id", "content_type", "size"}
    assert data["size"] == 3
    assert data["event_id"] == "id-1"


def test_metadata_of_an_mjpeg_frame():
    when = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    event = Event(fields={"frame_num": 7, "url": "http://cam/s", "timestamp": when}, _id="e")
    data = json.loads(metadata_json(Response(body=b"ab", content_type="image/jpeg"), event))
    assert data == {
        "frame_num": 7, "timestamp": "2026-01-02T03:04:05+00:00", "source": "http://cam/s",
        "event_id": "e", "content_type": "image/jpeg", "size": 2,
    }  # fmt: skip


def test_bodies_other_than_bytes():
    assert encode(Response(body="é", content_type="text/plain"), "auto") == (True, "é")
    assert encode(Response(body=bytearray(b"ab"), content_type="x/y"), "auto") == (False, b"ab")
    assert encode(Response(body=None, content_type="x/y"), "binary") == (False, b"")
    with pytest.raises(TypeError, match="got a dict body"):
        encode(Response(body={"a": 1}), "auto")
