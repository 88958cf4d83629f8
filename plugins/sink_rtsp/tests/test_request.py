"""The RTSP request reader: requests, ``$`` frames, errors, and fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dh_serverless.sinks.rtsp.request import (
    MAX_HEAD,
    BadRequest,
    Interleaved,
    Request,
    RequestReader,
    Response,
)

OPTIONS = b"OPTIONS rtsp://h/stream RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: x\r\n\r\n"


def test_requests_and_interleaved_frames_in_one_read():
    data = (
        OPTIONS
        + b"$\x01\x00\x03abc"
        + b"SET_PARAMETER * RTSP/1.0\r\nCSeq: 2\r\nContent-Length: 4\r\n\r\nab:c"
    )
    items = RequestReader().feed(data)
    assert items == [
        Request("OPTIONS", "rtsp://h/stream", "RTSP/1.0", {"cseq": "1", "user-agent": "x"}),
        Interleaved(1, b"abc"),
        Request("SET_PARAMETER", "*", "RTSP/1.0", {"cseq": "2", "content-length": "4"}, b"ab:c"),
    ]


def test_bytes_arriving_one_at_a_time():
    reader = RequestReader()
    items = []
    for byte in OPTIONS * 2:
        items += reader.feed(bytes([byte]))
    assert [r.cseq for r in items] == ["1", "1"]


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"hello\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"OPTIONS * RTSP/2.0\r\nCSeq: 1\r\n\r\n", 505),
        (b"OPTIONS * RTSP/1.0\r\n\r\n", 400),
        (b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nbad header\r\n\r\n", 400),
        (b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: -1\r\n\r\n", 400),
        (b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 99999999\r\n\r\n", 413),
        (b"\xff\xfe\r\n\r\n", 400),
        (b"A" * (MAX_HEAD + 10), 400),
    ],
)
def test_malformed_input_is_a_bad_request(data, status):
    with pytest.raises(BadRequest) as info:
        RequestReader().feed(data)
    assert info.value.status == status


def test_response_echoes_cseq_and_sets_content_length():
    data = Response(200, [("Content-Type", "application/sdp")], b"v=0\r\n").encode("7")
    assert data == (
        b"RTSP/1.0 200 OK\r\nCSeq: 7\r\nContent-Type: application/sdp\r\n"
        b"Content-Length: 5\r\n\r\nv=0\r\n"
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=8))
def test_fuzz_arbitrary_bytes_raise_bad_request_at_worst(chunks):
    reader = RequestReader()
    status = None
    try:
        for chunk in chunks:
            for item in reader.feed(chunk):
                assert isinstance(item, Request | Interleaved)
    except BadRequest as exc:
        status = exc.status
    assert status in (None, 400, 413, 505)


_token = st.text(
    st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=":"),
    min_size=1,
    max_size=12,
)
_method = st.from_regex(r"[A-Z][A-Z_]{0,12}", fullmatch=True)  # "$" starts a frame instead
_value = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30).map(str.strip)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            _method, _token, st.dictionaries(_token, _value, max_size=5), st.binary(max_size=50)
        ),
        min_size=1,
        max_size=4,
    ),
    st.integers(1, 64),
)
def test_fuzz_well_formed_requests_survive_any_chunking(requests, step):
    wire = b""
    expected = []
    for index, (method, uri, headers, body) in enumerate(requests):
        headers = {
            k.lower(): v for k, v in headers.items() if k.lower() not in ("cseq", "content-length")
        }
        headers["cseq"] = str(index)
        headers["content-length"] = str(len(body))
        head = f"{method} {uri} RTSP/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        wire += head.encode() + b"\r\n" + body
        expected.append(Request(method, uri, "RTSP/1.0", headers, body))
    reader = RequestReader()
    got = []
    for start in range(0, len(wire), step):
        got += reader.feed(wire[start : start + step])
    assert got == expected
