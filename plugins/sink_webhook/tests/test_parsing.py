"""Retry-After, backoff and metadata headers, fuzzed: never an exception, always sendable."""

from __future__ import annotations

import datetime
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from dh_serverless.hookspecs import Event
from dh_serverless.sinks.webhook._metadata import metadata_headers
from dh_serverless.sinks.webhook._retry import next_delay, parse_retry_after


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=30)))
def test_retry_after_is_seconds_or_none(value):
    seconds = parse_retry_after(value)
    assert seconds is None or (seconds >= 0 and value is not None and value.strip().isdigit())


def test_retry_after_examples():
    assert parse_retry_after("120") == 120
    assert parse_retry_after(" 3 ") == 3
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert parse_retry_after("-1") is None
    assert parse_retry_after("١٢") is None  # Arabic-Indic digits are not HTTP digits


@settings(max_examples=300, deadline=None)
@given(
    attempt=st.integers(0, 10_000),
    delay=st.floats(0, 1e6),
    backoff=st.floats(1, 1e3),
    cap=st.floats(0, 1e4),
    retry_after=st.one_of(st.none(), st.floats(0, 1e9)),
)
def test_backoff_is_bounded(attempt, delay, backoff, cap, retry_after):
    wait = next_delay(attempt, delay, backoff, cap, retry_after)
    assert 0 <= wait <= cap or (delay == 0 and wait == 0)
    assert not math.isnan(wait)


def test_backoff_doubles_up_to_the_cap():
    assert [next_delay(n, 1, 2, 5) for n in range(5)] == [1, 2, 4, 5, 5]
    assert next_delay(0, 1, 2, 5, retry_after=3) == 3
    assert next_delay(0, 1, 2, 5, retry_after=60) == 5


_anything = st.one_of(
    st.none(), st.integers(), st.text(), st.floats(), st.binary(max_size=10),
    st.datetimes(timezones=st.none() | st.timezones()), st.lists(st.text(max_size=3), max_size=2),
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    fields=st.dictionaries(st.sampled_from(["frame_num", "timestamp", "url", "x"]), _anything),
    url=st.one_of(st.none(), st.text()),
    event_id=st.one_of(st.none(), st.text()),
    timestamp=st.one_of(st.none(), st.integers(0, 2**31), st.datetimes()),
)
def test_metadata_headers_are_always_sendable(fields, url, event_id, timestamp):
    event = Event(fields=fields, url=url, _id=event_id, timestamp=timestamp)
    for name, value in metadata_headers(event).items():
        assert name.startswith("X-DH-")
        assert value
        assert len(value) <= 2048
        assert not any(ord(c) < 32 or ord(c) == 127 for c in value)


def test_metadata_of_an_mjpeg_frame():
    when = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    event = Event(fields={"frame_num": 12, "url": "http://cam/s", "timestamp": when}, _id="e1")
    assert metadata_headers(event) == {
        "X-DH-Frame-Number": "12",
        "X-DH-Timestamp": "2026-01-02T03:04:05+00:00",
        "X-DH-Source": "http://cam/s",
        "X-DH-Event-Id": "e1",
    }
