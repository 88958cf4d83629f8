"""The rtsp trigger: read an RTSP stream, hand its audio or its frames to the handler.

One reader thread per trigger runs PyAV (see :mod:`.source`): it connects, decodes, and
either appends PCM to the core's :class:`RollingBuffer` (audio) or keeps the newest decoded
frame (video). On the event loop one pump task wakes every ``processing_interval`` (or on
each new frame / chunk when it is 0), waits for a free worker, takes the newest data, turns
it into an event and starts ``dispatch`` without awaiting it: up to ``maxWorkers`` events run
at once, nothing ever queues, and results reach the sink in event order through the core's
ordered delivery (``sink_order_wait``). A lost or stalled stream is retried after
``reconnectDelay`` with back-off; the trigger never stops on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import av.error
import numpy as np

from dh_serverless.core.api import UTC, RollingBuffer, SourceTrigger, StreamDispatch, drain_tasks
from dh_serverless.hookspecs import Dispatch, Event, TriggerSpec
from dh_serverless.triggers.rtsp.config import RtspTriggerAttributes
from dh_serverless.triggers.rtsp.frames import to_jpeg, to_rgb
from dh_serverless.triggers.rtsp.metrics import TriggerMetrics
from dh_serverless.triggers.rtsp.source import (
    AudioFormat,
    SourceError,
    StalledError,
    read_stream,
)

__all__ = ("NDARRAY_CONTENT_TYPE", "RtspTrigger")

#: ``event.content_type`` when ``numpy: true`` puts an ``ndarray`` in ``event.body``
NDARRAY_CONTENT_TYPE = "application/x-ndarray"
_PCM_CONTENT_TYPE = "application/octet-stream"
_JPEG_CONTENT_TYPE = "image/jpeg"


class RtspTrigger(SourceTrigger[RtspTriggerAttributes]):
    """The ``rtsp`` trigger: a PyAV reader thread and a pump task on the loop (see the module).
    See the package README for the behaviour and the metrics."""

    kind: ClassVar[str] = "rtsp"
    attributes_type: ClassVar[type] = RtspTriggerAttributes

    def __init__(self, spec: TriggerSpec) -> None:
        super().__init__(spec, method="rtsp", path="")
        a = self.attributes
        self.media_type = a.media_type
        self.metrics = TriggerMetrics(spec.metrics, self.name, self.link)
        self.audio_format = AudioFormat(a.sample_rate, a.channels)
        # Audio only; video checks no sizes, so they are clamped into a valid (unused) buffer.
        top = max(a.max_bytes, a.chunk_bytes, a.trim_bytes)
        self.buffer = RollingBuffer(a.chunk_bytes, top, a.trim_bytes)
        #: frames decoded so far (video) / events sent so far (audio): never reset
        self.frame_num = 0
        self.event_num = 0
        self._latest: tuple[Any, int, datetime.datetime] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._signalled = False
        self._last_data = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._slots: asyncio.Semaphore | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._thread: threading.Thread | None = None
        self._pump: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._trimmed = 0

    def source_url(self, attributes: RtspTriggerAttributes) -> str:
        """The stream's ``rtsp_url``."""
        return attributes.rtsp_url

    # ------------------------------------------------------------------
    # Lifecycle
    # ------------------------------------------------------------------

    async def start(self, dispatch: Dispatch) -> None:
        """Start reading in the background and return at once (a source that is down is
        retried; it never fails the start)."""
        if self._thread is not None:
            raise RuntimeError(f"rtsp trigger {self.name!r} already started")
        loop = self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(max(1, self.spec.workers))
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"dh-rtsp-{self.name}-encode")
        self._thread = threading.Thread(
            target=self._read_forever, name=f"dh-rtsp-{self.name}", daemon=True
        )
        self._thread.start()
        self._pump = loop.create_task(self._pump_forever(dispatch))
        a = self.attributes
        detail = (
            f"PCM s16le {a.sample_rate} Hz {a.channels} ch"
            if self.media_type == "audio"
            else "JPEG"
            if not a.numpy
            else "RGB arrays"
        )
        self._logger.info(
            "rtsp trigger %s reading %s over %s: %s every %s (maxWorkers=%d)",
            self.name, self.public_url, a.transport.upper(), detail,
            f"{a.processing_interval} ms" if a.processing_interval else "new data",
            self.spec.workers,
        )  # fmt: skip

    async def stop(self, timeout: float) -> None:
        """Stop reading; let events being handled finish for up to ``timeout`` seconds."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)
        await drain_tasks(list(self._tasks), timeout)
        # A live stream returns within a packet; a stalled one within readTimeout (the
        # thread is a daemon: it never holds the process).
        await asyncio.to_thread(thread.join, min(2.0, float(self.attributes.read_timeout)))
        self.link.connected = False
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        got = (
            f"{self.metrics.audio_seconds.value:.1f} s of audio"
            if self.media_type == "audio"
            else f"{self.frame_num} frames"
        )
        self._logger.info(
            "rtsp trigger %s stopped after %s, %d events", self.name, got, self.event_num
        )

    # ------------------------------------------------------------------
    # The reader thread
    # ------------------------------------------------------------------

    def _read_forever(self) -> None:
        a = self.attributes
        stop = self._stop
        while not stop.is_set():
            before = self.metrics.received.value
            self._last_data = time.monotonic()
            stalled = False
            try:
                read_stream(
                    self.url,
                    media_type=self.media_type,
                    transport=a.transport,
                    connect_timeout=float(a.connect_timeout),
                    read_timeout=float(a.read_timeout),
                    stop=stop,
                    on_connected=self._on_connected,
                    on_audio=self._on_audio,
                    audio_format=self.audio_format,
                    on_video=self._on_video,
                    on_corrupt=self.metrics.corrupt.inc,
                    decode_threads=a.decode_threads,
                )
                reason = "the stream ended"
            except StalledError as exc:
                reason, stalled = str(exc), True
            except TimeoutError as exc:
                reason = str(exc) or "timed out"
            except SourceError as exc:
                reason = str(exc)
            except (av.error.FFmpegError, OSError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # a bug must not stop the stream for good
                self._logger.exception("rtsp trigger %s: unexpected error", self.name)
                reason = f"{type(exc).__name__}: {exc}"
            was_connected = self.link.connected
            self.link.connected = False
            with self._lock:  # a frame of the lost connection is stale by the next one
                if self._latest is not None:
                    self._latest = None
                    self.metrics.superseded.inc()
            if stop.is_set():
                return
            silent = time.monotonic() - self._last_data
            if stalled or (was_connected and silent >= 0.9 * float(a.read_timeout)):
                self.metrics.stalls.inc()
            self.metrics.reconnects.inc()
            stop.wait(self.link.lost(reason, got_data=self.metrics.received.value != before))

    def _on_connected(self, track: str) -> None:
        self.link.connected = True
        self._last_data = time.monotonic()
        self._logger.info("rtsp trigger %s connected to %s (%s)", self.name, self.public_url, track)

    def _on_audio(self, pcm: bytes, seconds: float) -> None:
        m = self.metrics
        m.received.inc()
        m.audio_seconds.inc(seconds)
        self._last_data = now = time.monotonic()
        self.link.fps.tick(now)
        buffer = self.buffer
        buffer.append(pcm)
        if buffer.trimmed_bytes != self._trimmed:
            m.trimmed.inc(buffer.trimmed_bytes - self._trimmed)
            self._trimmed = buffer.trimmed_bytes
        if not self.attributes.processing_interval and buffer.ready:
            self._signal()

    def _on_video(self, frame: Any) -> None:
        m = self.metrics
        m.received.inc()
        self._last_data = now = time.monotonic()
        self.link.fps.tick(now)
        with self._lock:
            n = self.frame_num = self.frame_num + 1
            if self._latest is not None:
                (m.sampled if self.attributes.processing_interval else m.superseded).inc()
            self._latest = (frame, n, datetime.datetime.now(UTC))
        if not self.attributes.processing_interval:
            self._signal()

    def _signal(self) -> None:
        """Wake the pump from the reader thread (once until it runs)."""
        if self._signalled or self._loop is None or self._wake is None:
            return
        self._signalled = True
        with contextlib.suppress(RuntimeError):  # the loop closed during shutdown
            self._loop.call_soon_threadsafe(self._wake.set)

    # ------------------------------------------------------------------
    # The pump, on the event loop
    # ------------------------------------------------------------------

    async def _pump_forever(self, dispatch: Dispatch) -> None:
        interval = self.attributes.processing_interval / 1000.0
        wake, slots = self._wake, self._slots
        assert wake is not None
        assert slots is not None
        loop = asyncio.get_running_loop()
        next_tick = loop.time() + interval
        video = self.media_type == "video"
        stream = StreamDispatch(
            dispatch,
            processed=self.metrics.processed,
            failed=self.metrics.failed,
            logger=self._logger,
            name=lambda event: f"rtsp event {event.id}",
        )
        while True:
            if interval:
                await asyncio.sleep(max(0.0, next_tick - loop.time()))
                next_tick = max(next_tick + interval, loop.time())  # no catch-up bursts
            else:
                await wake.wait()
                wake.clear()
                self._signalled = False
            if not (self._has_frame() if video else self.buffer.ready):
                continue
            await slots.acquire()
            try:
                event = await (self._video_event() if video else self._audio_event())
            except BaseException:
                slots.release()
                raise
            if event is None:
                slots.release()
                continue
            task = loop.create_task(self._run(stream, event))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _has_frame(self) -> bool:
        return self._latest is not None

    async def _audio_event(self) -> Event | None:
        if not self.buffer.ready:
            return None
        pcm = self.buffer.take()
        a = self.attributes
        fmt = self.audio_format
        n = self.event_num = self.event_num + 1
        now = datetime.datetime.now(UTC)
        body: Any = pcm
        content_type = _PCM_CONTENT_TYPE
        if a.numpy:
            body = np.frombuffer(pcm, dtype="<i2").reshape(-1, fmt.channels)
            content_type = NDARRAY_CONTENT_TYPE
        fields: dict[str, object] = {
            "chunk_num": n,
            "url": self.public_url,
            "timestamp": now,
            "sample_rate": fmt.rate,
            "channels": fmt.channels,
            "sample_format": "s16le",
            "duration": len(pcm) / fmt.bytes_per_second,
        }
        return self._event(body, content_type, fields, n, len(pcm), now, "rtsp-audio")

    async def _video_event(self) -> Event | None:
        with self._lock:
            latest, self._latest = self._latest, None
        if latest is None:
            return None
        frame, n, arrived = latest
        a = self.attributes
        convert = to_rgb if a.numpy else _jpeg_converter(a.jpeg_quality)
        loop = asyncio.get_running_loop()
        try:
            body = await loop.run_in_executor(self._executor, convert, frame)
        except Exception as exc:  # noqa: BLE001 - one bad frame must not stop the stream
            self.metrics.corrupt.inc()
            self._logger.debug("frame %d could not be converted: %s", n, exc)
            return None
        self.event_num += 1
        fields: dict[str, object] = {
            "frame_num": n,
            "url": self.public_url,
            "timestamp": arrived,
            "width": frame.width,
            "height": frame.height,
        }
        if frame.time is not None:
            fields["pts"] = float(frame.time)
        content_type = NDARRAY_CONTENT_TYPE if a.numpy else _JPEG_CONTENT_TYPE
        size = body.nbytes if isinstance(body, np.ndarray) else len(body)
        return self._event(body, content_type, fields, n, size, arrived, "rtsp-video")

    def _event(
        self,
        body: Any,
        content_type: str,
        fields: dict[str, object],
        n: int,
        size: int,
        when: datetime.datetime,
        kind: str,
    ) -> Event:
        return self.events(
            body, n, kind=kind, content_type=content_type, fields=fields, size=size, timestamp=when
        )

    async def _run(self, stream: StreamDispatch, event: Event) -> None:
        assert self._slots is not None
        try:
            await stream(event)
        finally:
            self._slots.release()


def _jpeg_converter(quality: int) -> Any:
    def convert(frame: Any) -> bytes:
        return to_jpeg(frame, quality)

    return convert
