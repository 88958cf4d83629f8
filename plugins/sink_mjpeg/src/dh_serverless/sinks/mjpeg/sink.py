"""The mjpeg sink: an aiohttp server re-streaming frames as ``multipart/x-mixed-replace``.

The sink keeps only the latest frame. Each viewer's task waits for a frame newer than
the one it last sent and writes that one, so a slow viewer gets fewer frames, never a
queue, and never holds up the others. Kernel buffers would otherwise hide megabytes of
backlog, so each viewer's socket gets a small ``SO_SNDBUF`` and a frame is skipped while
the previous one still sits in the transport's buffer.

``GET <path>`` is the stream (``?lowlatency=1`` writes the next part's headers right after
each frame, so browsers paint it at once instead of one frame late; that part carries no
``Content-Length``), ``GET /`` a viewer page, ``GET /stats`` the numbers the page shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import socket
import time
from typing import Any, ClassVar

from aiohttp import web

from dh_serverless.core.api import RecentRate, ViewerMetrics, serve_app
from dh_serverless.hookspecs import Event, Response, SinkSpec
from dh_serverless.sinks.mjpeg.config import MjpegSinkAttributes
from dh_serverless.sinks.mjpeg.page import viewer_page

__all__ = ("MjpegSink",)

_SOI = b"\xff\xd8"


class _Latest:
    """The newest frame, its sequence number, and a future resolved when a newer one comes."""

    __slots__ = ("age", "data", "frame_num", "next", "seq")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.seq = 0
        self.data = b""
        self.frame_num: Any = None
        self.age: float | None = None
        self.next: asyncio.Future[None] = loop.create_future()

    def publish(self, data: bytes, frame_num: Any, age: float | None) -> None:
        self.seq += 1
        self.data = data
        self.frame_num = frame_num
        self.age = age
        done, self.next = self.next, self.next.get_loop().create_future()
        done.set_result(None)


class MjpegSink:
    """The ``mjpeg`` sink. See the package README for the behaviour and the metrics."""

    kind: ClassVar[str] = "mjpeg"
    attributes_type: ClassVar[type] = MjpegSinkAttributes

    def __init__(self, spec: SinkSpec) -> None:
        a = spec.attributes
        self.attributes: MjpegSinkAttributes = (
            a if isinstance(a, MjpegSinkAttributes) else MjpegSinkAttributes()
        )
        self.spec = spec
        self._logger = spec.logger
        self._latest: _Latest | None = None
        self._runner: web.AppRunner | None = None
        self._viewers: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._port: int | None = None
        self._rate = RecentRate()
        self._not_jpeg_seen = 0
        self.metrics = ViewerMetrics(
            spec.metrics, spec.trigger, prefix="dh_mjpeg_sink",
            viewers="Viewers connected to the stream", skip_reasons=("slow", "not_jpeg"),
            skipped="Frames not written: slow (a viewer was still busy), "
            "not_jpeg (body is no JPEG)",
        )  # fmt: skip
        self.metrics.watch_viewers(lambda: len(self._viewers))
        self._sent = self.metrics.sent
        self._slow = self.metrics.skipped["slow"]
        self._not_jpeg = self.metrics.skipped["not_jpeg"]

    @property
    def port(self) -> int:
        """The port listened on (the one picked for ``port: 0`` once started)."""
        return self._port if self._port is not None else self.attributes.port

    @property
    def viewers(self) -> int:
        """Viewers connected now."""
        return len(self._viewers)

    async def start(self) -> None:
        """Listen for viewers."""
        a = self.attributes
        self._latest = _Latest(asyncio.get_running_loop())
        app = web.Application()
        app.router.add_get(a.path, self._stream)
        app.router.add_get("/", self._page)
        app.router.add_get("/stats", self._stats)
        self._runner, self._port = await serve_app(
            app, a.host, a.port, name="mjpeg sink",
            hint="choose another sink port (attributes.sink.attributes.port)",
        )  # fmt: skip
        self._logger.info(
            "mjpeg sink listening on http://%s:%d%s (viewer page at /)", a.host, self._port, a.path
        )

    async def emit(self, response: Response, event: Event) -> None:
        """Make ``response.body`` the latest frame; viewers pick it up on their own."""
        body = response.body
        latest = self._latest
        if latest is None or self._closing:
            return
        if not isinstance(body, (bytes, bytearray, memoryview)) or bytes(body[:2]) != _SOI:
            self._not_jpeg.inc()
            self._not_jpeg_seen += 1
            if self._not_jpeg_seen % 100 == 1:
                self._logger.warning(
                    "mjpeg sink: response %d is not a JPEG (content type %s); not streamed",
                    self._not_jpeg_seen, response.content_type,
                )  # fmt: skip
            return
        stamp = event.timestamp
        age = None
        if isinstance(stamp, datetime.datetime) and stamp.tzinfo is not None:
            age = (datetime.datetime.now(datetime.UTC) - stamp).total_seconds()
        self._rate.tick()
        latest.publish(bytes(body), event.get_field("frame_num"), age)

    async def stop(self) -> None:
        """Disconnect every viewer and stop listening."""
        self._closing = True
        latest = self._latest
        if latest is not None and not latest.next.done():
            latest.next.set_result(None)
        viewers = list(self._viewers)
        if viewers:
            _, left = await asyncio.wait(viewers, timeout=1.0)
            for task in left:
                task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
        self._logger.info("mjpeg sink stopped")

    # ------------------------------------------------------------------
    # HTTP
    # ------------------------------------------------------------------

    async def _page(self, request: web.Request) -> web.Response:
        title = f"{self.spec.trigger}: live"
        return web.Response(
            body=viewer_page(title, self.attributes.path),
            content_type="text/html",
            charset="utf-8",
            headers={"Cache-Control": "no-store"},
        )

    async def _stats(self, request: web.Request) -> web.Response:
        latest = self._latest
        data = {
            "fps": round(self._rate.read(), 2),
            "age_ms": None if latest is None or latest.age is None else latest.age * 1000,
            "frame_num": None if latest is None else latest.frame_num,
            "frames": 0 if latest is None else latest.seq,
            "viewers": len(self._viewers),
        }
        return web.Response(
            text=json.dumps(data, default=str),
            content_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        a = self.attributes
        if len(self._viewers) >= a.max_viewers:
            return web.Response(status=503, text=f"too many viewers (maxViewers={a.max_viewers})")
        latest = self._latest
        task = asyncio.current_task()
        if latest is None or task is None:
            return web.Response(status=503, text="not started")
        low_latency = request.query.get("lowlatency", "") in ("1", "true", "yes")
        transport = request.transport
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, a.send_buffer)
        boundary = a.boundary.encode()
        resp = web.StreamResponse(
            headers={
                "Content-Type": f"multipart/x-mixed-replace; boundary={a.boundary}",
                "Cache-Control": "no-store, no-cache, must-revalidate",
                "Pragma": "no-cache",
                "Connection": "close",
            }
        )
        resp.force_close()
        self._viewers.add(task)
        try:
            await resp.prepare(request)
            await self._serve(request, resp, latest, boundary, low_latency)
        except (ConnectionError, TimeoutError, asyncio.CancelledError):
            pass
        finally:
            self._viewers.discard(task)
        return resp

    async def _serve(
        self,
        request: web.Request,
        resp: web.StreamResponse,
        latest: _Latest,
        boundary: bytes,
        low_latency: bool,
    ) -> None:
        timeout = float(self.attributes.write_timeout)
        head = b"--" + boundary + b"\r\nContent-Type: image/jpeg\r\n"
        if low_latency:
            await resp.write(head + b"\r\n")
        sent = 0
        stalled_since: float | None = None
        while not self._closing:
            if latest.seq == sent:
                await asyncio.wait((latest.next,))
                continue
            sent = latest.seq
            data = latest.data
            transport = request.transport
            if transport is None or transport.is_closing():
                return
            if transport.get_write_buffer_size() > 0:
                self._slow.inc()
                now = time.monotonic()
                if stalled_since is None:
                    stalled_since = now
                elif now - stalled_since > timeout:
                    self._logger.info("mjpeg sink: viewer %s took nothing for %.0fs: "
                                      "disconnected", request.remote, timeout)  # fmt: skip
                    transport.close()
                    return
                continue
            stalled_since = None
            if low_latency:
                part = data + b"\r\n" + head + b"\r\n"
            else:
                part = head + b"Content-Length: %d\r\n\r\n" % len(data) + data + b"\r\n"
            await asyncio.wait_for(resp.write(part), timeout)
            self._sent.inc()
