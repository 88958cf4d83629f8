"""Servers that answer nonsense: the reader raises one of the errors the trigger handles
(and retries), within its timeouts, and the process lives on. Fuzzed with hypothesis."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import av.error
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dh_serverless.triggers.rtsp.pcm import AudioFormat
from dh_serverless.triggers.rtsp.source import SourceError, read_stream

HANDLED = (SourceError, TimeoutError, av.error.FFmpegError, OSError)

_SDP_HEAD = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=x\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"


def _answer(body: bytes, cseq: bytes, content_type: bytes = b"application/sdp") -> bytes:
    return (
        b"RTSP/1.0 200 OK\r\nCSeq: " + cseq + b"\r\nContent-Type: " + content_type
        + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    )  # fmt: skip


@contextmanager
def junk_server(reply: callable) -> Iterator[int]:  # type: ignore[valid-type]
    """A TCP server on a free port answering each request with ``reply(request)``."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(0.5)
                try:
                    while not stop.is_set():
                        data = conn.recv(65536)
                        if not data:
                            break
                        cseq = b"1"
                        for line in data.split(b"\r\n"):
                            if line.lower().startswith(b"cseq:"):
                                cseq = line.split(b":", 1)[1].strip()
                        out = reply(data, cseq)
                        if out is None:
                            break
                        conn.sendall(out)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        listener.close()


def _read(port: int, media_type: str = "video") -> BaseException | None:
    stop = threading.Event()
    threading.Timer(3.0, stop.set).start()  # a reader that keeps "playing" ends here
    try:
        read_stream(
            f"rtsp://127.0.0.1:{port}/x", media_type=media_type, transport="tcp",
            connect_timeout=1.5, read_timeout=1.0, stop=stop, on_connected=lambda _: None,
            on_audio=lambda *_: None, audio_format=AudioFormat(16000, 1),
            on_video=lambda _: None,
        )  # fmt: skip
    except HANDLED as exc:
        return exc
    return None


CASES = {
    "binary junk": lambda req, cseq: b"\x00\xff" * 300,
    "http instead of rtsp": lambda req, cseq: b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
    "close at once": lambda req, cseq: None,
    "a 500": lambda req, cseq: b"RTSP/1.0 500 Oops\r\nCSeq: " + cseq + b"\r\n\r\n",
    "sdp without media": lambda req, cseq: _answer(_SDP_HEAD.encode(), cseq),
    "sdp with an unknown codec": lambda req, cseq: _answer(
        (_SDP_HEAD + "m=video 0 RTP/AVP 96\r\na=rtpmap:96 NOPE/90000\r\n").encode(), cseq
    ),
    "huge content length": lambda req, cseq: (
        b"RTSP/1.0 200 OK\r\nCSeq: " + cseq + b"\r\nContent-Length: 999999999\r\n\r\nv=0"
    ),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", list(CASES))
def test_nonsense_answers_are_handled_errors(case):
    with junk_server(CASES[case]) as port:
        started = time.monotonic()
        outcome = _read(port)
    assert time.monotonic() - started < 8
    assert isinstance(outcome, HANDLED)


SDP_LINES = [
    "m=video 0 RTP/AVP 96", "a=rtpmap:96 H264/90000", "m=audio 0 RTP/AVP 0",
    "a=control:trackID=0", "a=fmtp:96 sprop-parameter-sets=!!", "c=IN IP4 x",
    "a=rtpmap:97 L16/0/0", "m=audio 1 RTP/AVP 97",
]  # fmt: skip


@pytest.mark.timeout(300)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    status=st.sampled_from([b"200 OK", b"401 Unauthorized", b"302 Found", b"461 Unsupported"]),
    headers=st.lists(
        st.tuples(
            st.sampled_from([b"Content-Type", b"Session", b"Transport", b"WWW-Authenticate",
                             b"Content-Base", b"Location", b"X"]),
            st.binary(max_size=40).filter(lambda b: b"\r" not in b and b"\n" not in b),
        ),
        max_size=4,
    ),
    body=st.one_of(
        st.binary(max_size=300),
        st.lists(
            st.sampled_from(SDP_LINES),
            max_size=6,
        ).map(lambda lines: (_SDP_HEAD + "\r\n".join(lines) + "\r\n").encode()),
    ),
    media=st.sampled_from(["video", "audio"]),
)  # fmt: skip
def test_fuzzed_answers_are_handled_errors(status, headers, body, media):
    def reply(req: bytes, cseq: bytes) -> bytes:
        head = b"RTSP/1.0 " + status + b"\r\nCSeq: " + cseq + b"\r\n"
        head += b"".join(name + b": " + value + b"\r\n" for name, value in headers)
        return head + b"Content-Length: %d\r\n\r\n" % len(body) + body

    with junk_server(reply) as port:
        started = time.monotonic()
        outcome = _read(port, media)
    assert time.monotonic() - started < 8
    # None: the reader was still waiting when told to stop (a server that never plays)
    assert outcome is None or isinstance(outcome, HANDLED)
