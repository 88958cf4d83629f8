"""Random methods, paths, headers and bodies, sent as raw bytes, always get an HTTP answer
and never make the trigger log an error."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import string
import threading
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dh_serverless.hookspecs import FunctionInfo, Response, TriggerSpec
from dh_serverless.triggers.http import CorsConfig, HttpAttributes, HttpTrigger

LIMIT = 4096
READ_BUFFER = 2048
_STATUS = re.compile(rb"HTTP/1\.[01] (\d{3}) ")
#: headers that change the framing of the raw request; the fuzzer leaves them alone
_FRAMING = {b"content-length", b"transfer-encoding", b"connection", b"expect", b"upgrade"}
_TOKEN = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[int, _Errors]]:
    """A trigger on its own loop in a thread, so hypothesis can drive it synchronously."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    errors = _Errors()
    logger = logging.getLogger("dh_serverless.trigger.fuzz")
    for name in (logger.name, "aiohttp"):
        logging.getLogger(name).addHandler(errors)

    async def dispatch(event):
        summary = f"{event.method} {event.path} {len(event.headers)} {event.size}"
        return Response(body=summary.encode("utf-8", "surrogateescape"), headers={"X-Ok": "1"})

    attributes = HttpAttributes(
        host="127.0.0.1",
        port=0,
        max_request_body_size=LIMIT,
        read_buffer_size=READ_BUFFER,
        cors=CorsConfig(enabled=True, allow_origins=("https://a.example",)),
    )
    spec = TriggerSpec("fuzz", "http", attributes, FunctionInfo("fn"), logger=logger)
    trigger = HttpTrigger(spec)
    asyncio.run_coroutine_threadsafe(trigger.start(dispatch), loop).result(5)
    try:
        yield trigger.port, errors
    finally:
        asyncio.run_coroutine_threadsafe(trigger.stop(1.0), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
        for name in (logger.name, "aiohttp"):
            logging.getLogger(name).removeHandler(errors)


def _exchange(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        with contextlib.suppress(OSError):  # the server may answer 431 and close early
            sock.sendall(raw)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
        return received


_METHODS = [b"GET", b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS", b"HEAD"]
_URL_CHARS = string.ascii_letters + string.digits + "-._~/%?&=+!$'()*,;:@"
_VALUE_CHARS = (
    string.printable.replace("\r", "").replace("\n", "").replace("\x0b", "").replace("\x0c", "")
)


def _mostly(
    valid: st.SearchStrategy[bytes], odd: st.SearchStrategy[bytes]
) -> st.SearchStrategy[bytes]:
    """One odd draw in twenty, so that about half the requests reach dispatch."""
    return st.integers(0, 19).flatmap(lambda i: odd if i == 0 else valid)


_methods = _mostly(
    st.sampled_from(_METHODS),
    st.binary(min_size=1, max_size=10).filter(lambda m: not set(m) & set(b" \r\n")),
)
_paths = _mostly(
    st.text(alphabet=_URL_CHARS, max_size=80).map(str.encode),
    st.binary(max_size=80).filter(lambda p: not set(p) & set(b" \r\n")),
).map(lambda p: b"/" + p)
_names = _mostly(
    st.text(alphabet=_TOKEN.decode(), min_size=1, max_size=24).map(str.encode),
    st.binary(min_size=1, max_size=24).filter(lambda n: not set(n) & set(b":\r\n")),
).filter(lambda n: n.strip().lower() not in _FRAMING)
_values = _mostly(
    st.one_of(
        st.text(alphabet=_VALUE_CHARS, max_size=100).map(str.encode),
        st.integers(READ_BUFFER - 40, READ_BUFFER + 10).map(lambda n: b"v" * n),  # near 431
    ),
    st.one_of(
        st.text(max_size=60).map(lambda v: v.encode("utf-8")),
        st.binary(max_size=200),
    ).filter(lambda v: not set(v) & set(b"\r\n")),
)
_special = st.sampled_from(
    [
        (b"Content-Type", b"application/json"),
        (b"Content-Type", b"application/json; charset=utf-8"),
        (b"Origin", b"https://a.example"),
        (b"Origin", b"null"),
        (b"Access-Control-Request-Method", b"POST"),
        (b"Access-Control-Request-Headers", b"X-Anything, Content-Type"),
    ]
)
_bodies = st.one_of(
    st.binary(max_size=200),
    st.integers(LIMIT - 2, LIMIT + 2).map(lambda n: b"x" * n),  # either side of 413
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=10,
    ).map(lambda v: repr(v).replace("'", '"').encode()),
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    method=_methods,
    path=_paths,
    headers=st.lists(st.one_of(st.tuples(_names, _values), _special), max_size=8),
    body=_bodies,
)
def test_random_requests_always_get_an_answer(live, method, path, headers, body):
    port, errors = live
    lines = [method + b" " + path + b" HTTP/1.1", b"Host: fuzz"]
    lines += [name + b": " + value for name, value in headers]
    lines += [b"Content-Length: " + str(len(body)).encode(), b"Connection: close"]
    answer = _exchange(port, b"\r\n".join(lines) + b"\r\n\r\n" + body)
    match = _STATUS.match(answer)
    assert match, answer[:200]
    status = int(match.group(1))
    event(f"status {status}")
    assert status in {200, 400, 413, 431}, answer[:300]
    assert not errors.records, [r.getMessage() for r in errors.records]


def test_still_serving_after_the_fuzz(live):
    port, errors = live
    answer = _exchange(port, b"GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert answer.endswith(b"GET /after 2 0")
    assert not errors.records
