"""The HTTP listener: binding, bodies (limit, budget, read timeout, 100-continue), the answers
it words itself, the HTTP/1.1 status line, and aiohttp's stop order with a drain in it."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dh_serverless.core.api import (
    BodyError,
    ByteBudget,
    HttpListener,
    Lifecycle,
    ListenError,
    ListenerTimeouts,
    OtherVersionRequest,
    UserError,
    format_address,
    json_answer,
    read_body,
    serve_app,
    serve_handler,
    text_answer,
    timeout,
)

HOST = "127.0.0.1"
TIMEOUTS = ListenerTimeouts(idle=5.0, read=0.3)
HEAD_OF_SIX = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nConnection: close\r\n\r\n"


async def echo(request: web.BaseRequest) -> web.StreamResponse:
    try:
        body = await read_body(request, 16, read_timeout=TIMEOUTS.read)
    except BodyError as err:
        response = web.Response(status=err.status, text=err.message)
        if err.close:
            response.force_close()
        return response
    version = "other" if request.__class__ is OtherVersionRequest else "1.x"
    return web.Response(body=body, headers={"X-Version": version})


@asynccontextmanager
async def served(
    handler: Callable[[web.BaseRequest], Any] = echo, **options: Any
) -> AsyncIterator[HttpListener]:
    listener = await serve_handler(
        handler, HOST, 0, name="test listener", hint="pick another", timeouts=TIMEOUTS, **options
    )
    try:
        yield listener
    finally:
        await listener.stop(1.0)


async def exchange(port: int, data: bytes, wait: float = 5.0) -> bytes:
    """Send ``data``, read until the server closes (or ``wait`` passes)."""
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(data)
    answer = b""
    try:
        async with timeout(wait):
            while chunk := await reader.read(65536):
                answer += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    writer.close()
    return answer


# ---------------------------------------------------------------------------
# Binding
# ---------------------------------------------------------------------------


async def test_port_zero_binds_a_free_port_and_the_address_names_it() -> None:
    async with served() as listener:
        assert listener.port > 0
        assert listener.address == f"{HOST}:{listener.port}"
        assert listener.addresses[0][1] == listener.port
        async with (
            aiohttp.ClientSession() as client,
            client.post(f"http://{listener.address}/", data=b"hi") as resp,
        ):
            assert resp.status == 200
            assert await resp.read() == b"hi"
            assert resp.headers["X-Version"] == "1.x"


def test_an_ipv6_address_is_bracketed() -> None:
    assert format_address("::1", 8080) == "[::1]:8080"
    assert format_address("0.0.0.0", 80) == "0.0.0.0:80"


async def test_a_port_in_use_is_a_listen_error_naming_the_listener_and_what_to_do() -> None:
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ListenError) as info:
            await serve_handler(echo, HOST, port, name="http trigger 'web'", hint="pick another")
    error = info.value
    assert isinstance(error, UserError)
    assert isinstance(error, OSError)
    assert str(error).startswith(f"http trigger 'web' cannot listen on {HOST}:{port}: ")
    assert str(error).endswith("; pick another")
    assert error.errno is not None


async def test_port_zero_cannot_be_shared_between_processes() -> None:
    with pytest.raises(ListenError, match="port 0 cannot be shared"):
        await serve_handler(echo, HOST, 0, name="t", hint="set the port", reuse_port=True)


async def test_two_listeners_share_a_port_with_reuse_port() -> None:
    async with served() as probe:
        port = probe.port
    first = await serve_handler(echo, HOST, port, name="a", hint="", reuse_port=True)
    try:
        second = await serve_handler(echo, HOST, port, name="b", hint="", reuse_port=True)
        await second.stop()
    finally:
        await first.stop()


async def test_serve_app_serves_an_application_and_stops_twice_quietly() -> None:
    app = web.Application()

    async def hello(_: web.Request) -> web.Response:
        return web.Response(text="hello")

    app.router.add_get("/", hello)
    listener = await serve_app(app, HOST, 0, name="app", hint="", timeouts=TIMEOUTS)
    async with (
        aiohttp.ClientSession() as client,
        client.get(f"http://{listener.address}/") as resp,
    ):
        assert await resp.text() == "hello"
    await listener.stop()
    await listener.stop()
    with pytest.raises(OSError, match="Connect call failed"):
        await asyncio.open_connection(HOST, listener.port)


async def test_serve_app_on_a_unix_socket(tmp_path: Any) -> None:
    app = web.Application()

    async def hello(_: web.Request) -> web.Response:
        return web.Response(text="unix")

    app.router.add_get("/", hello)
    path = str(tmp_path / "s.sock")
    listener = await serve_app(app, "", 0, name="app", hint="", path=path)
    try:
        connector = aiohttp.UnixConnector(path=path)
        async with (
            aiohttp.ClientSession(connector=connector) as client,
            client.get("http://localhost/") as resp,
        ):
            assert await resp.text() == "unix"
    finally:
        await listener.stop()


# ---------------------------------------------------------------------------
# Bodies
# ---------------------------------------------------------------------------


async def test_a_declared_body_over_the_limit_is_413_naming_the_setting() -> None:
    async with served() as listener:
        answer = await exchange(
            listener.port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n" + b"x" * 17
        )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert b"Connection: close" in head
    assert body == (
        b"request body is larger than maxRequestBodySize (16 bytes); "
        b"raise attributes.maxRequestBodySize to accept it"
    )


async def test_a_chunked_body_growing_over_the_limit_is_413() -> None:
    async with served() as listener, aiohttp.ClientSession() as client:

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(5):
                yield b"12345"

        async with client.post(f"http://{listener.address}/", data=chunks()) as resp:
            assert resp.status == 413


async def test_a_stalled_body_closes_the_connection_after_the_read_timeout() -> None:
    async with served() as listener:
        loop = asyncio.get_running_loop()
        started = loop.time()
        answer = await exchange(
            listener.port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab", wait=5.0
        )
        assert loop.time() - started < 3.0  # closed by the server, not by our wait
    assert answer == b""


async def test_a_slow_body_that_keeps_coming_is_read_in_full() -> None:
    async def patient(request: web.BaseRequest) -> web.StreamResponse:
        return web.Response(body=await read_body(request, 16, read_timeout=0.7))

    async with served(patient) as listener:
        reader, writer = await asyncio.open_connection(HOST, listener.port)
        writer.write(HEAD_OF_SIX)
        for part in (b"ab", b"cd", b"ef"):
            await asyncio.sleep(0.3)  # each pause shorter than the read timeout, all longer
            writer.write(part)
        answer = await reader.read()
        writer.close()
    assert answer.startswith(b"HTTP/1.1 200")
    assert answer.endswith(b"\r\n\r\nabcdef")


async def test_a_body_of_declared_length_in_several_reads_is_joined_whole() -> None:
    seen: list[tuple[type, int]] = []

    async def joined(request: web.BaseRequest) -> web.StreamResponse:
        body = await read_body(request, 16, read_timeout=2.0)
        seen.append((type(body), len(body)))
        return web.Response(body=body)

    async with served(joined) as listener:
        reader, writer = await asyncio.open_connection(HOST, listener.port)
        writer.write(HEAD_OF_SIX)
        for part in (b"ab", b"cd", b"ef"):
            await asyncio.sleep(0.05)  # three reads, joined once
            writer.write(part)
        answer = await reader.read()
        writer.close()
    assert answer.endswith(b"\r\n\r\nabcdef")
    assert seen == [(bytes, 6)]


async def test_expect_100_continue_is_answered_then_the_body_read() -> None:
    async with served() as listener:
        reader, writer = await asyncio.open_connection(HOST, listener.port)
        writer.write(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n"
            b"Connection: close\r\n\r\n"
        )
        interim = await reader.readuntil(b"\r\n\r\n")
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"abc")
        answer = await reader.read()
        writer.close()
    assert answer.startswith(b"HTTP/1.1 200")
    assert answer.endswith(b"abc")


async def test_another_expectation_is_417_and_the_connection_closes() -> None:
    async with served() as listener:
        answer = await exchange(
            listener.port,
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: magic\r\n"
            b"Connection: close\r\n\r\n",
            wait=2.0,
        )
    assert answer.startswith(b"HTTP/1.1 417"), answer
    assert b"Connection: close" in answer


async def test_bad_chunked_encoding_is_a_400_or_a_parser_answer() -> None:
    async with served() as listener:
        answer = await exchange(
            listener.port,
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"zz\r\nab\r\n0\r\n\r\n",
        )
    assert answer.startswith(b"HTTP/1.1 400"), answer


async def test_the_budget_refuses_what_does_not_fit_and_keeps_nothing_on_error() -> None:
    budget = ByteBudget(10)
    seen: list[int] = []

    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        try:
            body = await read_body(request, 100, budget=budget)
        except BodyError as err:
            return web.Response(status=err.status, text=err.message)
        seen.append(budget.used)
        budget.give_back(len(body))
        return web.Response(body=body)

    async with served(handler) as listener, aiohttp.ClientSession() as client:
        url = f"http://{listener.address}/"
        async with client.post(url, data=b"x" * 8) as resp:
            assert resp.status == 200
            assert await resp.read() == b"x" * 8
        assert seen == [8]
        assert budget.used == 0
        budget.try_take(5)  # another request holds 5 bytes
        async with client.post(url, data=b"y" * 8) as resp:
            assert resp.status == 503
            assert await resp.text() == (
                "the server is receiving 10 bytes of requests already "
                "(attributes.maxBytesInFlight); retry later"
            )
        assert budget.used == 5


# ---------------------------------------------------------------------------
# The listener's own answers
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("version", [b"HTTP/2.0", b"HTTP/0.9", b"HTTP/1.9"])
async def test_the_status_line_is_http_1_1_whatever_the_request_said(version: bytes) -> None:
    async with served() as listener:
        answer = await exchange(listener.port, b"GET / " + version + b"\r\nHost: x\r\n\r\n", 2)
    assert answer.startswith(b"HTTP/1.1 "), answer[:100]


async def test_another_version_reaches_the_handler_as_other_version_request() -> None:
    async with served() as listener:
        answer = await exchange(listener.port, b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 2)
    assert answer.startswith(b"HTTP/1.1 200")
    assert b"X-Version: other" in answer


async def test_an_over_long_header_is_431_in_the_owners_form() -> None:
    async with served(answer=json_answer, max_field_size=100, max_line_size=100) as listener:
        answer = await exchange(
            listener.port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * 200 + b"\r\n\r\n"
        )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431")
    assert b"application/json" in head
    assert json.loads(body) == {"error": "Too big request header (limit: 100 bytes)"}


async def test_garbage_is_a_capped_400_in_plain_text() -> None:
    async with served(answer=text_answer) as listener:
        answer = await exchange(
            listener.port, b"GET / HTTP/1.1\r\nHost: x\r\nBad\x01" + b"x" * 50_000 + b"\r\n\r\n"
        )
    assert answer.startswith(b"HTTP/1.1 4"), answer[:100]
    assert len(answer) < 2000


async def test_a_handler_that_raises_gets_a_500_and_the_listener_keeps_serving() -> None:
    async def broken(request: web.BaseRequest) -> web.StreamResponse:
        if request.path == "/boom":
            raise RuntimeError("boom")
        return web.Response(text="fine")

    async with served(broken) as listener, aiohttp.ClientSession() as client:
        async with client.get(f"http://{listener.address}/boom") as resp:
            assert resp.status == 500
            assert await resp.text() == "500 Internal Server Error\n"
        async with client.get(f"http://{listener.address}/") as resp:
            assert await resp.text() == "fine"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(junk=st.binary(max_size=300))
def test_any_bytes_get_an_http_1_1_answer_or_a_close(junk: bytes) -> None:
    async def run() -> bytes:
        async with served() as listener:
            return await exchange(listener.port, junk + b"\r\n\r\n", wait=1.0)

    answer = asyncio.run(run())
    assert answer == b"" or answer.startswith(b"HTTP/1.1 "), answer[:100]


# ---------------------------------------------------------------------------
# Stop order and drain
# ---------------------------------------------------------------------------


async def test_stop_drains_requests_in_flight_then_refuses_new_connections() -> None:
    life = Lifecycle("test listener")
    life.start()
    release = asyncio.Event()

    arrived = asyncio.Event()

    async def slow(request: web.BaseRequest) -> web.StreamResponse:
        life.enter(request.task)
        arrived.set()
        try:
            await release.wait()
            return web.Response(text="done")
        finally:
            life.leave(request.task)

    listener = await serve_handler(slow, HOST, 0, name="t", hint="", timeouts=TIMEOUTS)
    async with aiohttp.ClientSession() as client:
        pending = asyncio.ensure_future(client.get(f"http://{listener.address}/"))
        await asyncio.wait_for(arrived.wait(), 5.0)
        life.begin_stop()
        stopping = asyncio.ensure_future(listener.stop(10.0, life))
        await asyncio.sleep(0.1)
        assert not stopping.done()  # the request in flight is waited for
        with pytest.raises(OSError, match="Connect call failed"):
            await asyncio.open_connection(HOST, listener.port)  # not listening any more
        release.set()
        resp = await pending
        assert resp.status == 200
        assert await resp.text() == "done"
        await asyncio.wait_for(stopping, 5.0)


async def test_stop_cancels_what_outlives_the_timeout() -> None:
    life = Lifecycle("test listener")
    life.start()
    cancelled = asyncio.Event()
    arrived = asyncio.Event()

    async def forever(request: web.BaseRequest) -> web.StreamResponse:
        life.enter(request.task)
        arrived.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        finally:
            life.leave(request.task)
        raise AssertionError("unreachable")

    listener = await serve_handler(forever, HOST, 0, name="t", hint="", timeouts=TIMEOUTS)
    reader, writer = await asyncio.open_connection(HOST, listener.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.wait_for(arrived.wait(), 5.0)
    life.begin_stop()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await listener.stop(0.2, life)
    assert loop.time() - started < 3.0
    assert cancelled.is_set()
    assert await reader.read() == b""  # closed without an answer
    writer.close()


async def test_idle_keep_alive_connections_do_not_hold_up_a_stop() -> None:
    async with served() as listener, aiohttp.ClientSession() as client:
        for _ in range(3):
            async with client.post(f"http://{listener.address}/", data=b"x") as resp:
                assert resp.status == 200
        loop = asyncio.get_running_loop()
        started = loop.time()
        await listener.stop(5.0)
        assert loop.time() - started < 1.0


async def test_a_body_buffered_in_several_chunks_is_read_whole() -> None:
    release = asyncio.Event()

    async def late(request: web.BaseRequest) -> web.StreamResponse:
        await release.wait()  # the body arrives in pieces meanwhile
        body = await read_body(request, 100)
        return web.Response(body=body)

    async with served(late) as listener:
        reader, writer = await asyncio.open_connection(HOST, listener.port)
        writer.write(HEAD_OF_SIX)
        for part in (b"ab", b"cd", b"ef"):
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.write(part)
        await asyncio.sleep(0.05)
        release.set()
        answer = await reader.read()
        writer.close()
    assert answer.endswith(b"\r\n\r\nabcdef"), answer


async def test_a_trigger_spec_names_the_listener_and_shares_its_port_between_processes() -> None:
    from dh_serverless.hookspecs import FunctionInfo, TriggerSpec

    function = FunctionInfo(name="f", handler="main:handler")
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        spec = TriggerSpec(name="web", kind="http", attributes=None, function=function)
        with pytest.raises(ListenError, match=f"^http trigger 'web' cannot listen on {HOST}:"):
            await serve_handler(echo, HOST, port, trigger=spec, hint="pick another")
    shared = TriggerSpec(name="web", kind="http", attributes=None, function=function, processes=2)
    with pytest.raises(ListenError, match="port 0 cannot be shared"):
        await serve_handler(echo, HOST, 0, trigger=shared, hint="set attributes.port")
