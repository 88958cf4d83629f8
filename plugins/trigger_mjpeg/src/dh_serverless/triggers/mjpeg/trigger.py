"""The mjpeg trigger: read a camera's MJPEG stream and hand each frame to the handler.

One reader task per trigger: connect (aiohttp, no total timeout, a read timeout for a
stalled camera), cut frames with :class:`MjpegParser`, number them (the count goes on
across reconnects), keep every ``processingFactor``-th, and offer it to
:class:`LatestWins`, which runs at most ``maxWorkers`` at once. Results reach the sink in
frame order through the core's ordered delivery (``sink_order_wait``). A lost or stalled
source is retried after ``reconnectDelay`` (doubling up to ``maxReconnectDelay``); the
trigger never stops on its own.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import time
from typing import ClassVar

import aiohttp

from dh_serverless.core.api import SourceTrigger, redact_url
from dh_serverless.hookspecs import Dispatch, TriggerSpec
from dh_serverless.triggers.mjpeg.config import MjpegAttributes
from dh_serverless.triggers.mjpeg.metrics import TriggerMetrics
from dh_serverless.triggers.mjpeg.parser import (
    Frame,
    MjpegParser,
    ParserStats,
    boundary_from_content_type,
)
from dh_serverless.triggers.mjpeg.scheduler import LatestWins

__all__ = ("MjpegTrigger", "redact_url")

_CONTENT_TYPE = "image/jpeg"


class _SourceError(Exception):
    """The source answered, but not with a stream (HTTP status, ended body)."""


class MjpegTrigger(SourceTrigger[MjpegAttributes]):
    """The ``mjpeg`` trigger: one reader task, frames offered to :class:`LatestWins`. See the
    package README for the behaviour and the metrics."""

    kind: ClassVar[str] = "mjpeg"
    attributes_type: ClassVar[type] = MjpegAttributes

    def __init__(self, spec: TriggerSpec) -> None:
        super().__init__(spec)
        self.metrics = TriggerMetrics(spec.metrics, self.name, self.link)
        self.frame_num = 0
        self._reader: asyncio.Task[None] | None = None
        self._scheduler: LatestWins | None = None
        self._session: aiohttp.ClientSession | None = None

    def source_url(self, attributes: MjpegAttributes) -> str:
        """The camera's ``url``."""
        return attributes.url

    async def start(self, dispatch: Dispatch) -> None:
        """Start reading the stream in the background; return at once (a source that is
        down is retried, it never fails the start)."""
        if self._reader is not None:
            raise RuntimeError(f"mjpeg trigger {self.name!r} already started")
        a = self.attributes
        self._scheduler = LatestWins(dispatch, self.spec.workers, self.metrics, self._logger)
        self._session = aiohttp.ClientSession(
            auto_decompress=False,
            read_bufsize=1 << 20,
            connector=aiohttp.TCPConnector(limit=1, force_close=True),
        )
        self._reader = asyncio.get_running_loop().create_task(self._read_forever())
        self._logger.info(
            "mjpeg trigger %s reading %s (maxWorkers=%d, processingFactor=%d)",
            self.name, self.public_url, self._scheduler.slots, a.processing_factor,
        )  # fmt: skip

    async def stop(self, timeout: float) -> None:
        """Stop reading, let frames being handled finish for up to ``timeout`` seconds."""
        reader, self._reader = self._reader, None
        if reader is None:
            return
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        self.link.connected = False
        if self._scheduler is not None:
            await self._scheduler.drain(timeout)
        if self._session is not None:
            await self._session.close()
        self._logger.info("mjpeg trigger %s stopped after %d frames", self.name, self.frame_num)

    # ------------------------------------------------------------------
    # Reading
    # ------------------------------------------------------------------

    async def _read_forever(self) -> None:
        a = self.attributes
        while True:
            frames_before = self.frame_num
            try:
                await self._read_once()
                reason = "the stream ended"
            except asyncio.CancelledError:
                raise
            except TimeoutError:
                reason = f"no data for {float(a.read_timeout):g}s (readTimeout) or connect timeout"
            except _SourceError as exc:
                reason = str(exc)
            except (aiohttp.ClientError, OSError, ValueError) as exc:
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            except Exception as exc:  # a bug must not stop the stream for good
                self._logger.exception("mjpeg trigger %s: unexpected error", self.name)
                reason = f"{type(exc).__name__}: {exc}"
            self.metrics.reconnects.inc()
            await asyncio.sleep(self.link.lost(reason, got_data=self.frame_num != frames_before))

    async def _read_once(self) -> None:
        a = self.attributes
        session = self._session
        assert session is not None
        headers = dict(a.headers)
        if a.username is not None:
            token = base64.b64encode(f"{a.username}:{a.password or ''}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=float(a.connect_timeout),
            sock_connect=float(a.connect_timeout),
            sock_read=float(a.read_timeout),
        )
        async with session.get(
            self.url,
            headers=headers,
            timeout=timeout,
            allow_redirects=True,
            ssl=a.verify_tls,  # True: the default checks; False: none
        ) as resp:
            if resp.status != 200:
                raise _SourceError(f"HTTP {resp.status} {resp.reason or ''}".strip())
            content_type = resp.headers.get("Content-Type")
            parser = MjpegParser(
                boundary_from_content_type(content_type), max_frame=a.max_frame_size
            )
            self.link.connected = True
            self._logger.info(
                "mjpeg trigger %s connected to %s (Content-Type: %s)",
                self.name, self.public_url, content_type,
            )  # fmt: skip
            stats = parser.stats
            corrupt = oversize = 0
            on_frame = self._on_frame
            scheduler = self._scheduler
            assert scheduler is not None
            read_timeout = float(a.read_timeout)
            last_frame = time.monotonic()
            async for chunk in resp.content.iter_any():
                frames = parser.feed(chunk)
                if not frames:
                    if time.monotonic() - last_frame > read_timeout:
                        raise _SourceError(f"bytes but no frame for {read_timeout:g}s")
                else:
                    last_frame = time.monotonic()
                    on_frame(frames[0])
                    for frame in frames[1:]:
                        await scheduler.settle()
                        on_frame(frame)
                if stats.corrupt != corrupt or stats.oversize != oversize:
                    corrupt, oversize = self._count_parser_drops(stats, corrupt, oversize)

    def _count_parser_drops(
        self, stats: ParserStats, corrupt: int, oversize: int
    ) -> tuple[int, int]:
        self.metrics.corrupt.inc(stats.corrupt - corrupt)
        self.metrics.oversize.inc(stats.oversize - oversize)
        return stats.corrupt, stats.oversize

    def _on_frame(self, frame: Frame) -> None:
        m = self.metrics
        m.received.inc()
        self.link.fps.tick(time.monotonic())
        n = self.frame_num = self.frame_num + 1
        if n % self.attributes.processing_factor:
            m.sampled.inc()
            return
        data = frame.data
        now = datetime.datetime.now(datetime.UTC)
        fields: dict[str, object] = {"frame_num": n, "url": self.public_url, "timestamp": now}
        if frame.timestamp is not None:
            fields["capture_timestamp"] = frame.timestamp
        event = self.events(
            data, n, kind="mjpeg", content_type=_CONTENT_TYPE, fields=fields, size=len(data),
            timestamp=now,
        )  # fmt: skip
        assert self._scheduler is not None
        self._scheduler.offer(event)
