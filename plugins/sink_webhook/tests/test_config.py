"""The sink's attributes: the original's YAML loads unchanged; mistakes name the key."""

from __future__ import annotations

import contextlib

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from dh_serverless.core.config import structure
from dh_serverless.core.errors import ConfigError
from dh_serverless.sinks.webhook import WebhookAttributes

PATH = ("spec", "triggers", "cam", "attributes", "sink", "attributes")

# The sink block of the original's test/mjpeg-webhook configuration, verbatim.
ORIGINAL = """
url: "http://localhost:8888/webhook"
method: "POST"
headers:
  Content-Type: "application/json"
  X-API-Key: "test-api-key-12345"
timeout: 10
maxRetries: 3
retryDelay: 1
"""


def load(data: object) -> WebhookAttributes:
    return structure(data, WebhookAttributes, source="function.yaml", path=PATH)


def test_original_yaml_loads():
    a = load(yaml.safe_load(ORIGINAL))
    assert a.url == "http://localhost:8888/webhook"
    assert a.method == "POST"
    assert a.headers == {"Content-Type": "application/json", "X-API-Key": "test-api-key-12345"}
    assert (a.timeout, a.max_retries, a.retry_delay) == (10, 3, 1)


def test_defaults_and_other_spellings():
    a = load({"url": "https://hooks.example.com/x", "max_retries": 0, "RetryDelay": "250ms",
              "method": "put"})  # fmt: skip
    assert (a.method, a.max_retries, a.retry_delay, a.timeout) == ("PUT", 0, 0.25, 10)
    assert (a.max_concurrency, a.retry_backoff, a.metadata_headers) == (4, 2.0, True)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "required key missing"),
        ({"url": "localhost:8888"}, "url must be a URL such as http://host"),
        ({"url": "http://x/", "method": "PO ST"}, "method: not an HTTP method"),
        ({"url": "http://x/", "headers": {"X-A": "a\nb"}}, "the value of 'X-A' holds a line"),
        ({"url": "http://x/", "maxRetries": -1}, "maxRetries must be at least 0"),
        ({"url": "http://x/", "maxConcurrency": 0}, "maxConcurrency must be at least 1"),
        ({"url": "http://x/", "timeout": "later"}, "invalid duration 'later'"),
        ({"url": "http://x/", "max_retrys": 2}, "did you mean 'maxRetries'"),
    ],
)
def test_mistakes_name_the_key(data, message):
    with pytest.raises(ConfigError) as info:
        load(data)
    assert message in str(info.value)
    assert ".".join(PATH) in str(info.value)


_values = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=True),
    st.text(max_size=30), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
)  # fmt: skip
_keys = st.sampled_from(
    ["url", "method", "headers", "timeout", "maxRetries", "retryDelay", "retryBackoff",
     "maxRetryDelay", "maxConcurrency", "metadataHeaders", "flushTimeout", "x"]
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.dictionaries(_keys, _values, max_size=6), _values))
def test_any_attributes_load_or_raise_config_error(data):
    with contextlib.suppress(ConfigError):
        load(data)
