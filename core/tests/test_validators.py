"""core.validators: one wording for every plugin's attribute checks, through the real loader."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dh_serverless.core import api
from dh_serverless.core.api import validators


@attrs.frozen
class Attributes:
    port: int = attrs.field(default=8080, validator=validators.port())
    fps: float = attrs.field(default=30.0, validator=validators.positive("fps"))
    retries: int = attrs.field(default=1, validator=validators.at_least(0, "maxRetries"))
    quality: int = attrs.field(default=80, validator=validators.between(1, 100))
    codec: str = attrs.field(default="h264", validator=validators.one_of(("h264", "vp8")))
    url: str = attrs.field(default="http://cam/stream", validator=validators.url(("http", "https")))
    ws: str | None = attrs.field(
        default=None, validator=validators.url(("ws", "wss"), optional=True)
    )
    path: str = attrs.field(default="/s", validator=validators.path(reserved=("/", "/stats")))
    headers: dict[str, str] = attrs.field(factory=dict, validator=validators.header_names())


def message(**values: object) -> str:
    with pytest.raises(ValueError) as raised:  # noqa: PT011 - the message is the point
        Attributes(**values)  # type: ignore[arg-type]
    return str(raised.value)


def test_valid_values_pass():
    Attributes(port=0, retries=0, quality=100, codec="VP8", url="https://h:1/x", ws="ws://h/")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"port": 70000}, "port must be between 1 and 65535 (0: any free port), got 70000"),
        ({"port": -1}, "port must be between 1 and 65535 (0: any free port), got -1"),
        ({"fps": 0}, "fps must be greater than 0, got 0"),
        ({"retries": -1}, "maxRetries must be at least 0, got -1"),
        ({"quality": 101}, "quality must be between 1 and 100, got 101"),
        ({"codec": "av1"}, "codec must be one of h264, vp8, got 'av1'"),
        (
            {"url": "ftp://h/x"},
            "url must be a URL such as http://host:port/path (http, https), got 'ftp://h/x'",
        ),
        ({"url": "http://h:99999/"}, "url must be a URL such as http://host:port/path"),
        ({"ws": "http://h/"}, "ws must be a URL such as ws://host:port/path (ws, wss)"),
        (
            {"path": "/stats"},
            "path must be an absolute path such as /stream, without spaces, ? or #, and none "
            "of /, /stats; got '/stats'",
        ),
        ({"path": "stream"}, "path must be an absolute path such as /stream"),
        ({"path": "/a b"}, "path must be an absolute path such as /stream"),
        ({"headers": {"Bad Name": "x"}}, "headers: not a header name: 'Bad Name'"),
        ({"headers": {"X-A": "a\r\nB: c"}}, "headers: the value of 'X-A' holds a line break"),
    ],
)
def test_each_check_words_its_error_the_same_way(values, expected):
    assert message(**values).startswith(expected)


@given(st.text(max_size=40))
def test_url_never_raises_anything_but_value_error(text):
    error = None
    try:
        Attributes(url=text)
    except ValueError as exc:
        error = str(exc)
    assert error is None or error.startswith("url must be a URL")


def test_the_plugin_api_exports_what_it_lists():
    for name in api.__all__:
        assert getattr(api, name) is not None
