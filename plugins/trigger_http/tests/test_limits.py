"""maxRequestBodySize (413 before any worker sees the event) and readBufferSize (431)."""

from __future__ import annotations

import asyncio
import re

import pytest

LIMIT = 1024


async def _chunks(total: int, size: int = 256):
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        sent += n
        yield b"x" * n


async def test_body_over_content_length_limit_is_413(serve, recorder, client):
    async with serve(recorder, max_request_body_size=LIMIT) as (_, url):
        async with client.post(url, data=b"x" * (LIMIT + 1)) as resp:
            assert resp.status == 413
            assert resp.headers["Content-Type"] == "application/json"
            message = (await resp.json())["error"]
            assert "maxRequestBodySize" in message
            assert str(LIMIT) in message
        async with client.post(url, data=b"x" * LIMIT) as resp:
            assert resp.status == 200
    assert [e.size for e in recorder.events] == [LIMIT]


async def test_chunked_body_over_limit_is_413(serve, recorder, client):
    async with serve(recorder, max_request_body_size=LIMIT) as (_, url):
        async with client.post(url, data=_chunks(LIMIT * 4)) as resp:
            assert resp.status == 413
            assert "maxRequestBodySize" in (await resp.json())["error"]
        async with client.post(url, data=_chunks(LIMIT)) as resp:
            assert resp.status == 200
    assert [e.body for e in recorder.events] == [b"x" * LIMIT]


async def test_default_limit_is_4_mib(serve, recorder, client):
    async with serve(recorder) as (trigger, url):
        assert trigger.attributes.max_request_body_size == 4 * 1024 * 1024
        async with client.post(url, data=b"x" * (4 * 1024 * 1024 + 1)) as resp:
            assert resp.status == 413
        await asyncio.sleep(0.05)  # the server sees the client go before stop()
    assert recorder.events == []


async def test_oversize_declared_body_is_refused_before_it_is_sent(serve, recorder):
    async with serve(recorder, max_request_body_size=LIMIT) as (trigger, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", trigger.port)
        writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n")
        status = await asyncio.wait_for(reader.readline(), 5)
        assert status.startswith(b"HTTP/1.1 413")
        writer.close()
        await asyncio.sleep(0.05)  # the server sees the client go before stop()
    assert recorder.events == []


async def test_header_over_read_buffer_size_is_431(serve, recorder, client):
    async with serve(recorder, read_buffer_size=LIMIT) as (_, url):
        async with client.get(url, headers={"X-Big": "v" * (LIMIT + 10)}) as resp:
            assert resp.status == 431
            assert "Too big request header" in await resp.text()
        async with client.get(url, headers={"X-Fits": "v" * (LIMIT // 2)}) as resp:
            assert resp.status == 200
    assert len(recorder.events) == 1


async def test_request_line_over_read_buffer_size_is_431(serve, recorder, client):
    async with (
        serve(recorder, read_buffer_size=LIMIT) as (_, url),
        client.get(f"{url}/{'p' * (LIMIT + 10)}") as resp,
    ):
        assert resp.status == 431
    assert recorder.events == []


@pytest.mark.parametrize(
    "raw",
    [
        b"NOT HTTP AT ALL\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header Name: 1\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n0\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    ],
)
async def test_malformed_requests_get_400(serve, recorder, raw, caplog):
    async with serve(recorder) as (trigger, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", trigger.port)
        writer.write(raw)
        status = await asyncio.wait_for(reader.readline(), 5)
        assert re.match(rb"HTTP/1\.[01] 400 ", status), status
        writer.close()
    assert recorder.events == []
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
