"""End to end: a running function posts its results to a real HTTP receiver."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import web

from dh_serverless.testing.processes import HOST, eventually, free_port

pytestmark = pytest.mark.timeout(60)


class Receiver:
    """An HTTP server on 127.0.0.1 recording each request; ``answer`` decides the reply."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.requests: list[tuple[float, str, dict[str, str], bytes]] = []
        self.answer: Callable[[web.Request, bytes], web.Response] = lambda r, b: web.Response()
        self.delay = 0.0
        self.runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()  # ends the delays: stopping never waits for them

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/webhook"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append((time.monotonic(), request.method, dict(request.headers), body))
        if self.delay:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.delay)
        return self.answer(request, body)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/webhook", self.handle)
        self.runner = web.AppRunner(app, handle_signals=False)
        await self.runner.setup()
        await web.TCPSite(self.runner, HOST, self.port).start()

    async def stop(self) -> None:
        self._stopping.set()
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    def bodies(self) -> list[bytes]:
        return [body for *_, body in self.requests]


@contextlib.asynccontextmanager
async def receiver_on(port: int) -> AsyncIterator[Receiver]:
    receiver = Receiver(port)
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.stop()


async def status(function, *args, **fields) -> int:
    """Push one event through the function's ``test`` trigger; the status it answered."""
    return (await function.push(*args, **fields)).status_code


def webhook_sink(url: str, **attributes: object) -> dict[str, object]:
    # The original's attribute names, as its test/mjpeg-webhook configuration writes them.
    return {"kind": "webhook", "attributes": {"url": url, "method": "POST",
            "headers": {"X-API-Key": "test-api-key-12345"}, "timeout": 10, "maxRetries": 3,
            "retryDelay": 1, **attributes}}  # fmt: skip


async def test_500_then_200_is_retried_without_holding_up_other_frames(dh_sink_function):
    async with receiver_on(free_port()) as receiver:
        seen: dict[str, int] = {}

        def answer(request: web.Request, body: bytes) -> web.Response:
            frame = request.headers.get("X-DH-Frame-Number", "")
            seen[frame] = seen.get(frame, 0) + 1
            if frame == "1" and seen[frame] == 1:
                return web.Response(status=500, text="try again")
            return web.Response(text="ok")

        receiver.answer = answer
        function = await dh_sink_function(webhook_sink(receiver.url))
        assert await status(function, b"\xff\xd8one\xff\xd9", "image/jpeg", frame_num=1) == 200
        assert await status(function, b"boom", path="/raise") == 500
        assert await status(function, b"missing", "text/plain", status=404) == 404
        for n in (2, 3):
            assert await status(function, b'{"n": %d}' % n, "application/json", frame_num=n) == 200
        await eventually(lambda: len(receiver.requests) == 4, 10, "four webhook requests")

        frames = [h.get("X-DH-Frame-Number") for _, _, h, _ in receiver.requests]
        assert frames == ["1", "2", "3", "1"]  # the retry of 1 came after 2 and 3
        first, retry = receiver.requests[0][0], receiver.requests[3][0]
        assert retry - first >= 0.9  # retryDelay: 1
        assert receiver.requests[2][0] - first < 0.9  # 2 and 3 did not wait for it
        for _, method, headers, _ in receiver.requests:
            assert method == "POST"
            assert headers["X-API-Key"] == "test-api-key-12345"
            assert headers["X-DH-Event-Id"]
            assert headers["X-DH-Trigger"] == "web"
            assert headers["X-DH-Timestamp"].endswith("+00:00")
        by_frame = {
            h["X-DH-Frame-Number"]: (h["Content-Type"], b) for _, _, h, b in receiver.requests
        }
        assert by_frame["1"] == ("image/jpeg", b"\xff\xd8one\xff\xd9")
        assert by_frame["2"] == ("application/json", b'{"n": 2}')
        assert b"boom" not in receiver.bodies()
        assert b"missing" not in receiver.bodies()

        assert function.metric("dh_webhook_retries_total", trigger="web") == 1
        await eventually(
            lambda: function.metric("dh_webhook_deliveries_total", outcome="ok") == 3,
            5, "three deliveries",
        )  # fmt: skip
        assert function.metric("dh_webhook_attempts_total", result="5xx") == 1
        await function.stop()


async def test_a_4xx_answer_is_final(dh_sink_function):
    async with receiver_on(free_port()) as receiver:
        receiver.answer = lambda r, b: web.Response(status=400, text="bad json")
        function = await dh_sink_function(webhook_sink(receiver.url, retryDelay=0.05))
        assert await status(function, b"x", "application/json", frame_num=1) == 200
        await eventually(
            lambda: function.metric("dh_webhook_deliveries_total", outcome="failed"), 5, "a failure"
        )
        assert len(receiver.requests) == 1
        assert "gave up after 1 attempt(s): status 400" in function.log()


async def test_peer_down_at_start_then_up(dh_sink_function):
    port = free_port()
    function = await dh_sink_function(
        webhook_sink(f"http://{HOST}:{port}/webhook", retryDelay=0.2, maxRetryDelay=0.4,
                     maxRetries=50)
    )  # fmt: skip
    assert await status(function, b"early", "text/plain", frame_num=1) == 200
    await eventually(
        lambda: function.metric("dh_webhook_attempts_total", result="error"), 5, "a failed attempt"
    )
    async with receiver_on(port) as receiver:
        await eventually(lambda: receiver.bodies() == [b"early"], 10, "the retried frame")
        assert await status(function, b"later", "text/plain", frame_num=2) == 200
        await eventually(lambda: receiver.bodies() == [b"early", b"later"], 5, "the next frame")
        assert receiver.requests[0][2]["Content-Type"] == "text/plain"


async def test_a_timeout_is_retried(dh_sink_function):
    async with receiver_on(free_port()) as receiver:
        calls = []

        def answer(request: web.Request, body: bytes) -> web.Response:
            calls.append(body)
            return web.Response()

        receiver.answer = answer
        receiver.delay = 1.0
        function = await dh_sink_function(
            webhook_sink(receiver.url, timeout=0.3, retryDelay=0.05, maxRetries=1)
        )
        assert await status(function, b"slow", "text/plain") == 200
        await eventually(
            lambda: function.metric("dh_webhook_deliveries_total", outcome="failed"), 10, "give up"
        )
        assert function.metric("dh_webhook_attempts_total", result="error") == 2
        assert len(receiver.requests) == 2


async def test_sigterm_flushes_results_in_flight(dh_sink_function):
    async with receiver_on(free_port()) as receiver:
        receiver.delay = 0.4
        function = await dh_sink_function(webhook_sink(receiver.url, maxConcurrency=2))
        for n in range(6):
            assert await status(function, b"frame-%d" % n, "image/jpeg", frame_num=n) == 200
        await function.stop()
        assert sorted(receiver.bodies()) == [b"frame-%d" % n for n in range(6)]


async def test_full_concurrency_drops_oldest_and_never_slows_requests(dh_sink_function):
    async with receiver_on(free_port()) as receiver:
        receiver.delay = 3.0  # every slot stays busy
        function = await dh_sink_function(
            webhook_sink(receiver.url, maxConcurrency=1, flushTimeout=0.5),
            spec={"gracefulShutdownTimeout": "1s"},  # the queue gets 1 s to drain, not 5
        )
        loop = asyncio.get_running_loop()
        began = loop.time()
        for n in range(100):
            assert await status(function, b"f%d" % n, "image/jpeg", frame_num=n) == 200
        assert loop.time() - began < 10
        assert function.metric("dh_sink_dropped_total") > 0
        await function.stop()
        assert "dropped" in function.log()


async def test_configured_content_type_wins_and_metadata_can_be_off(dh_sink_function):
    async with receiver_on(free_port()) as receiver:
        sink = webhook_sink(receiver.url, metadataHeaders=False, method="put")
        sink["attributes"]["headers"]["Content-Type"] = "application/json"
        function = await dh_sink_function(sink)
        assert await status(function, b"\xff\xd8", "image/jpeg", frame_num=3) == 200
        await eventually(lambda: receiver.requests, 5, "one request")
        _, method, headers, body = receiver.requests[0]
        assert (method, headers["Content-Type"], body) == ("PUT", "application/json", b"\xff\xd8")
        assert not [name for name in headers if name.startswith("X-DH-")]
