"""The ``webrtc`` sink: frames in through the core's Sink protocol, WebRTC out over WHEP.

``emit`` encodes each frame once, on one encoding thread, while anyone watches, and
publishes the packet to the :class:`FrameHub`; every viewer's track hands that same
packet to aiortc, which only packetises it. The HTTP side (WHEP, the viewer page, its
statistics) lives in :mod:`dh_serverless.sinks.webrtc.whep`.
"""

from __future__ import annotations

import asyncio
import datetime
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

from dh_serverless.core.api import MediaClock, RecentRate, local_url
from dh_serverless.hookspecs import Event, Response, SinkSpec
from dh_serverless.sinks.webrtc.config import WebRtcSinkAttributes
from dh_serverless.sinks.webrtc.encoder import CLOCK, EncodedFrame, FrameEncoder
from dh_serverless.sinks.webrtc.ice import host_addresses
from dh_serverless.sinks.webrtc.metrics import SinkMetrics
from dh_serverless.sinks.webrtc.track import FrameHub
from dh_serverless.sinks.webrtc.whep import WhepServer

__all__ = ("WebRtcSink",)

#: at most one forced key frame in this many seconds, however many viewers ask
_KEYFRAME_EVERY = 0.25
_REANCHOR = 5.0


class WebRtcSink:
    """Serves the handler's frames (JPEG bytes, or ``HxWx3`` uint8 RGB arrays) over WebRTC.

    See the package README for the behaviour, the attributes and the metrics.
    """

    kind: ClassVar[str] = "webrtc"
    attributes_type: ClassVar[type] = WebRtcSinkAttributes

    def __init__(self, spec: SinkSpec) -> None:
        a = spec.attributes
        self.attributes: WebRtcSinkAttributes = (
            a if isinstance(a, WebRtcSinkAttributes) else WebRtcSinkAttributes()
        )
        self.spec = spec
        self.log = spec.logger
        self.metrics = SinkMetrics(spec.metrics, spec.trigger, self.attributes.codec)
        self.hub = FrameHub()
        self.encoder = FrameEncoder(
            self.attributes.codec, self.attributes.bitrate, self.attributes.fps
        )
        self.server = WhepServer(self)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="dh-webrtc-encode")
        self._seq = 0
        self._want_key = True
        self._last_forced = 0.0
        self.clock = MediaClock(CLOCK, _REANCHOR)
        self._rate = RecentRate()
        self._not_frame_seen = 0
        self._closing = False
        #: the frames' age when handed to a viewer's connection (moving average, seconds)
        self._age: float | None = None

    @property
    def port(self) -> int:
        """The HTTP port listened on (the one picked for ``port: 0`` once started)."""
        return self.server.port

    @property
    def url(self) -> str:
        """The viewer page's URL on this machine."""
        return local_url("http", self.attributes.host, self.port, f"{self.attributes.path}/")

    @property
    def viewers(self) -> int:
        """Viewers connected or connecting now."""
        return self.server.viewers

    def ice_addresses(self) -> list[str] | None:
        """The addresses to gather ICE candidates on (``None``: every interface)."""
        host = self.attributes.host
        if host in ("0.0.0.0", "", "::"):
            # every interface, as aioice finds them; loopback when there is no other
            return None if host_addresses() else ["127.0.0.1"]
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
        except OSError:
            return None
        return sorted({str(info[4][0]) for info in infos})

    async def start(self) -> None:
        """Listen for WHEP offers and viewers of the page."""
        await self.server.start()
        self.metrics.watch_viewers(lambda: self.server.viewers)
        self.log.info(
            "webrtc sink: viewer page %s, WHEP %swhep (%s)",
            self.url, self.url, self.attributes.codec,
        )  # fmt: skip

    async def emit(self, response: Response, event: Event) -> None:
        """Encode one frame, once, for the viewers watching (nothing without viewers)."""
        body = response.body
        if self._closing or body is None or (isinstance(body, bytes | bytearray) and not body):
            return
        now = time.time()
        self._rate.tick()
        if not self.server.viewers:
            return
        captured = _capture_time(event, now)
        pts = self.clock.pts(captured, now)
        keyframe = False
        if self._want_key and time.monotonic() - self._last_forced >= _KEYFRAME_EVERY:
            keyframe, self._want_key = True, False
            self._last_forced = time.monotonic()
        self._seq += 1
        loop = asyncio.get_running_loop()
        try:
            frame = await loop.run_in_executor(
                self._executor, self.encoder.encode, body, pts, keyframe, self._seq, captured
            )
        except ValueError as exc:
            self._seq -= 1
            self._want_key = self._want_key or keyframe
            self.metrics.skipped_not_frame.inc()
            self._not_frame_seen += 1
            if self._not_frame_seen % 100 == 1:
                self.log.warning(
                    "webrtc sink: response %d is not a frame (%s); not streamed",
                    self._not_frame_seen, exc,
                )  # fmt: skip
            return
        if frame is None:
            self._seq -= 1
            return
        self.metrics.frame_encoded(frame.seconds)
        self.hub.publish(frame)

    async def stop(self) -> None:
        """Close every viewer's connection and the listener; wait for the encoder."""
        self._closing = True
        self.hub.close()
        await self.server.stop()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._executor.shutdown, True)
        self.encoder.close()
        self.log.info("webrtc sink stopped")

    # -- what the viewers ask -----------------------------------------------------------

    def want_keyframe(self) -> None:
        """Make a coming frame a key frame (a viewer joined, fell behind or lost a picture)."""
        self._want_key = True

    def on_frame(self, frame: EncodedFrame | None, skipped: int) -> None:
        """Count a frame handed to one viewer, or ``skipped`` frames it did not get."""
        if frame is not None:
            self.metrics.sent.inc()
            self.metrics.sent_bytes.inc(frame.packet.size)
            age = time.time() - frame.captured
            self._age = age if self._age is None else 0.9 * self._age + 0.1 * age
        if skipped:
            self.metrics.skipped_slow.inc(skipped)

    def stats(self) -> dict[str, Any]:
        """What the viewer page shows: frame rate, the latest frame's age when sent, size."""
        latest = self.hub.latest
        return {
            "fps": round(self._rate.read(), 2),
            "frames": self._seq,
            "viewers": self.server.viewers,
            "codec": self.attributes.codec,
            "age_ms": None if self._age is None else round(self._age * 1000, 1),
            "encode_ms": None if latest is None else round(latest.seconds * 1000, 2),
            "width": None if latest is None else latest.width,
            "height": None if latest is None else latest.height,
        }


def _capture_time(event: Event, now: float) -> float:
    stamp = event.timestamp
    if isinstance(stamp, datetime.datetime):
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=datetime.UTC)
        return stamp.timestamp()
    return now
