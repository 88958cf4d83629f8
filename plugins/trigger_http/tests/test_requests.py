"""What a client sends reaches the Event as Nuclio's http trigger builds it, and what
dispatch returns (or raises) reaches the client."""

from __future__ import annotations

import asyncio
import datetime
import json
import uuid

import pytest

from dh_serverless.hookspecs import (
    DispatchError,
    EventTimeoutError,
    Response,
    ShuttingDownError,
    TriggerInfo,
    WorkerBusyError,
    WorkerLostError,
)
from dh_serverless.triggers.http import canonical_header_name

# ---------------------------------------------------------------------------
# Request -> Event
# ---------------------------------------------------------------------------


async def test_event_fields_follow_nuclio(serve, recorder, client):
    async with serve(recorder) as (_, url):
        before = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0)
        async with client.get(f"{url}/a/b?x=1&y=2&x=3") as resp:
            assert resp.status == 200
    event = recorder.event
    assert event.method == "GET"
    assert event.path == "/a/b"
    assert event.fields == {"x": "3", "y": "2"}  # last value wins
    assert event.body == b""
    assert event.size == 0
    assert event.content_type == ""
    assert event.trigger == TriggerInfo("http", "web")
    assert event.url == ""
    assert (event.shard_id, event.num_shards, event.offset) == (-1, 0, 0)
    assert (event.type, event.type_version, event.version, event.topic) == ("", "", "", "")
    assert event.last_in_batch is False
    assert uuid.UUID(event.id).version == 4
    assert str(uuid.UUID(event.id)) == event.id
    assert event.timestamp.tzinfo is None
    assert event.timestamp.microsecond == 0
    assert before <= event.timestamp <= before + datetime.timedelta(seconds=2)


async def test_trigger_info_is_shared_and_ids_differ(serve, recorder, client):
    async with serve(recorder) as (_, url):
        for _ in range(3):
            async with client.get(url) as resp:
                assert resp.status == 200
    first, *rest = recorder.events
    assert all(e.trigger is first.trigger for e in rest)
    assert len({e.id for e in recorder.events}) == 3


async def test_headers_are_canonical_and_last_value_wins(serve, recorder, client):
    headers = [
        ("x-my-header", "lower"),
        ("X-UPPER-CASE", "upper"),
        ("x-dup", "first"),
        ("X-Dup", "second"),
        ("content-type", "text/plain"),
    ]
    async with (
        serve(recorder) as (_, url),
        client.post(f"{url}/", data=b"body", headers=headers) as resp,
    ):
        assert resp.status == 200
    got = recorder.event.headers
    assert got["X-My-Header"] == "lower"
    assert got["X-Upper-Case"] == "upper"
    assert got["X-Dup"] == "second"
    assert got["Content-Type"] == "text/plain"
    assert got["Content-Length"] == "4"
    assert "Host" in got
    assert "User-Agent" in got
    assert all(type(k) is str for k in got)
    assert recorder.event.get_header("x-my-header") == "lower"
    assert recorder.event.headers.get("x-my-header") is None


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("x-my-header", "X-My-Header"),
        ("CONTENT-TYPE", "Content-Type"),
        ("host", "Host"),
        ("x_under_score", "X_under_score"),
        ("a--b", "A--B"),
        ("Already-Canonical", "Already-Canonical"),
        ("has space", "has space"),  # not a token: unchanged, as Go does
        ("", ""),
    ],
)
def test_canonical_header_name(name, canonical):
    assert canonical_header_name(name) == canonical


async def test_path_and_query_are_decoded(serve, recorder, client):
    async with (
        serve(recorder) as (_, url),
        client.get(f"{url}/a%20b/%C3%A9?q=a%20b&e=%C3%A9&empty=") as resp,
    ):
        assert resp.status == 200
    assert recorder.event.path == "/a b/é"
    assert recorder.event.fields == {"q": "a b", "e": "é", "empty": ""}


@pytest.mark.parametrize(
    ("content_type", "raw", "expected"),
    [
        ("application/json", b'{"a": 1}', {"a": 1}),
        ("application/json", b"[1, 2]", [1, 2]),
        ("application/json", b"42", 42),
        ("application/json", b'"s"', "s"),
        ("application/json", b"{bad", b"{bad"),  # invalid JSON keeps the bytes
        ("application/json", b"", b""),
        ("application/json; charset=utf-8", b'{"a": 1}', b'{"a": 1}'),  # exact match only
        ("Application/JSON", b'{"a": 1}', b'{"a": 1}'),
        ("text/plain", b"hello", b"hello"),
        ("application/octet-stream", b"\x00\xff", b"\x00\xff"),
    ],
)
async def test_body_decoding_rule(serve, recorder, client, content_type, raw, expected):
    async with (
        serve(recorder) as (_, url),
        client.post(url, data=raw, headers={"Content-Type": content_type}) as resp,
    ):
        assert resp.status == 200
    event = recorder.event
    assert event.body == expected
    assert type(event.body) is type(expected)
    assert event.content_type == content_type
    assert event.size == len(raw)


async def test_missing_content_type_keeps_bytes(serve, recorder, client):
    async with (
        # aiohttp's client sets no Content-Type for bytes without being asked
        serve(recorder) as (_, url),
        client.put(url, data=b'{"a": 1}', skip_auto_headers=["Content-Type"]) as resp,
    ):
        assert resp.status == 200
    assert recorder.event.content_type == ""
    assert recorder.event.body == b'{"a": 1}'
    assert recorder.event.method == "PUT"


async def test_body_is_not_inflated(serve, recorder, client):
    import gzip

    packed = gzip.compress(b"hello")
    headers = {"Content-Encoding": "gzip", "Content-Type": "text/plain"}
    async with (
        serve(recorder) as (_, url),
        client.post(url, data=packed, headers=headers) as resp,
    ):
        assert resp.status == 200
    assert recorder.event.body == packed


async def test_chunked_body_reaches_the_event(serve, recorder, client):
    async def chunks():
        for part in (b"ab", b"cd", b"ef"):
            yield part

    async with serve(recorder) as (_, url), client.post(url, data=chunks()) as resp:
        assert resp.status == 200
    assert recorder.event.body == b"abcdef"
    assert recorder.event.headers["Transfer-Encoding"] == "chunked"


# ---------------------------------------------------------------------------
# Response -> HTTP
# ---------------------------------------------------------------------------


async def test_response_status_body_headers(serve, recorder, client):
    async def respond(event):
        return Response(
            body=b"\x00\x01hi",
            headers={"X-A": "1", "content-type": "application/xml", "Content-Length": "999"},
            content_type="text/csv",
            status_code=201,
        )

    recorder.respond = respond
    async with serve(recorder) as (_, url), client.get(url) as resp:
        assert resp.status == 201
        assert await resp.read() == b"\x00\x01hi"
        assert resp.headers["X-A"] == "1"
        assert resp.headers.getall("Content-Type") == ["text/csv"]  # content_type wins
        assert resp.headers["Content-Length"] == "4"  # framed by the server


async def test_content_type_with_parameters_is_sent_verbatim(serve, recorder, client):
    async def respond(event):
        return Response(body=b"{}", content_type="application/json; charset=utf-8")

    recorder.respond = respond
    async with serve(recorder) as (_, url), client.get(url) as resp:
        assert resp.headers["Content-Type"] == "application/json; charset=utf-8"


async def test_invalid_response_header_is_a_500(serve, recorder, client):
    async def respond(event):
        return Response(body=b"x", headers={"X-Bad": "a\r\nInjected: 1"})

    recorder.respond = respond
    async with serve(recorder) as (_, url):
        async with client.get(url) as resp:
            assert resp.status == 500
            assert "Injected" not in resp.headers
            assert "X-Bad" in (await resp.json())["error"]
        recorder.respond = None
        async with client.get(url) as resp:
            assert resp.status == 200


@pytest.mark.parametrize(
    ("error", "status", "message"),
    [
        (WorkerBusyError(), 503, "no worker available"),
        (EventTimeoutError("handler timed out"), 504, "handler timed out"),
        (EventTimeoutError(), 504, "handler timed out"),
        (ShuttingDownError("shutting down"), 503, "shutting down"),
        (WorkerLostError("worker 2 died"), 500, "worker 2 died"),
        (DispatchError("odd"), 500, "odd"),
    ],
)
async def test_dispatch_errors_become_json_answers(serve, recorder, client, error, status, message):
    async def respond(event):
        raise error

    recorder.respond = respond
    async with serve(recorder) as (_, url), client.post(url, data=b"x") as resp:
        assert resp.status == status
        assert resp.headers["Content-Type"] == "application/json"
        assert json.loads(await resp.read()) == {"error": message}


async def test_unexpected_dispatch_failure_is_a_500_and_serving_goes_on(serve, recorder, client):
    async def respond(event):
        raise RuntimeError("core bug")

    recorder.respond = respond
    async with serve(recorder) as (_, url):
        async with client.get(url) as resp:
            assert resp.status == 500
            assert "core bug" in (await resp.json())["error"]
        recorder.respond = None
        async with client.get(url) as resp:
            assert resp.status == 200


async def test_health_path_is_answered_without_the_handler(serve, recorder, client):
    async with serve(recorder) as (_, url):
        for path in ("/__internal/health", "/__internal/health/deep?x=1"):
            async with client.get(url + path) as resp:
                assert resp.status == 200
                assert await resp.read() == b""
    assert recorder.events == []


async def test_expect_continue(serve, recorder):
    async with serve(recorder, max_request_body_size=10) as (trigger, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", trigger.port)
        head = "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"
        writer.write(head.encode())
        assert await reader.readline() == b"HTTP/1.1 100 Continue\r\n"
        assert await reader.readline() == b"\r\n"
        writer.write(b"hello")
        assert (await reader.readline()).startswith(b"HTTP/1.1 200")
        writer.close()

        reader, writer = await asyncio.open_connection("127.0.0.1", trigger.port)
        head = "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 50\r\n\r\n"
        writer.write(head.encode())
        assert (await reader.readline()).startswith(b"HTTP/1.1 413")
        writer.close()
    assert recorder.event.body == b"hello"
