"""The ``rtsp`` sink: frames in through the core's Sink protocol, RTP out to viewers."""

from __future__ import annotations

import asyncio
import datetime
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

from dh_serverless.core.api import MediaClock, local_url
from dh_serverless.hookspecs.protocols import SinkSpec
from dh_serverless.hookspecs.types import Event, Response
from dh_serverless.sinks.rtsp.audio import L16_PAYLOAD_TYPE, L16Packetizer
from dh_serverless.sinks.rtsp.config import RtspAttributes
from dh_serverless.sinks.rtsp.encoder import H264Encoder, JpegPacketizer
from dh_serverless.sinks.rtsp.metrics import SinkMetrics
from dh_serverless.sinks.rtsp.rtp import RtpStream
from dh_serverless.sinks.rtsp.sdp import h264_sdp, jpeg_sdp, l16_sdp
from dh_serverless.sinks.rtsp.server import RtspServer

__all__ = ("DESCRIBE_WAIT", "RtspSink")

#: Seconds a DESCRIBE waits for the first frame (its size and SPS/PPS) before a 503.
DESCRIBE_WAIT = 10.0
_CLOCK = 90_000
_REANCHOR = 5.0
#: audio: a piece that starts more than this many seconds after the previous one ended
#: is stamped at its arrival time (a gap), else it follows on seamlessly
_AUDIO_GAP = 1.0


class RtspSink:
    """Serves the handler's frames (JPEG bytes, or ``HxWx3`` uint8 arrays) over RTSP,
    or with ``type: audio`` its PCM (16-bit little-endian) as L16.

    Nothing is decoded or encoded while nobody plays: ``emit`` keeps the latest frame
    (for the SDP of the next DESCRIBE) and returns. With viewers, each frame is encoded
    once on a single encoding thread and its packets fan out to every viewer. Audio
    needs no encoder: each piece is byte-swapped and cut into 20 ms packets on the loop.
    """

    attributes_type: ClassVar[type] = RtspAttributes
    kind = "rtsp"

    def __init__(self, spec: SinkSpec) -> None:
        self.spec = spec
        self.attributes: RtspAttributes = spec.attributes
        self.log = spec.logger
        attributes = self.attributes
        audio = attributes.type == "audio"
        self.metrics = SinkMetrics(spec.metrics, spec.trigger, "l16" if audio else attributes.codec)
        self.codec: H264Encoder | JpegPacketizer
        #: the L16 packetiser of ``type: audio``, else None
        self.audio: L16Packetizer | None = None
        self._audio_next = 0  # the sample clock where the next piece follows on
        if audio:
            self.audio = L16Packetizer(attributes.sample_rate, attributes.channels)
            self.codec = JpegPacketizer(attributes.quality)  # never used: no frames
            self.rtp = RtpStream(L16_PAYLOAD_TYPE)
        elif attributes.codec == "h264":
            self.codec = H264Encoder(attributes.fps, attributes.bitrate)
            self.rtp = RtpStream(96)
        else:
            self.codec = JpegPacketizer(attributes.quality)
            self.rtp = RtpStream(26)
        self.ssrc = self.rtp.ssrc
        self.server = RtspServer(attributes, self, self.log, self.metrics)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="dh-rtsp-encode")
        #: frame times on the 90 kHz clock (audio: ``wall0`` alone, its own rate)
        self.clock = MediaClock(_CLOCK, _REANCHOR)
        self._offset = int.from_bytes(os.urandom(4), "big")
        self._latest: tuple[Any, int] | None = None
        self._latest_encoded = False
        self._first: asyncio.Event | None = None
        self._want_key = False
        self._session_id = int.from_bytes(os.urandom(4), "big")

    @property
    def port(self) -> int:
        """The TCP port the RTSP server listens on (useful with ``port: 0``)."""
        return self.server.port

    @property
    def url(self) -> str:
        """The stream's URL on this machine."""
        return local_url("rtsp", self.attributes.host, self.port, self.attributes.path)

    async def start(self) -> None:
        """Listen for viewers."""
        self._first = asyncio.Event()
        await self.server.start()
        self.metrics.watch_viewers(lambda: len(self.server.playing))
        a = self.attributes
        what = f"L16 {a.sample_rate} Hz {a.channels} ch" if self.audio else a.codec
        self.log.info("rtsp: serving %s (%s)", self.url, what)

    async def emit(self, response: Response, event: Event) -> None:
        """Encode and send one frame to the viewers playing, if any."""
        body = response.body
        if body is None or (isinstance(body, bytes | bytearray) and not body):
            return
        if self.audio is not None:
            self._emit_audio(body, self.audio)
            return
        pts = self._pts(event)
        self._latest = (body, pts)
        self._latest_encoded = False
        if self._first is not None:
            self._first.set()
        if not self.server.playing:
            return
        keyframe, self._want_key = self._want_key, False
        loop = asyncio.get_running_loop()
        try:
            frame = await loop.run_in_executor(
                self._executor, self.codec.encode, body, pts, keyframe
            )
        except BaseException:
            self._want_key = self._want_key or keyframe
            raise
        if self._latest is not None and self._latest[1] == pts:
            self._latest_encoded = True
        self.metrics.frame_encoded(frame.seconds)
        packets = self.rtp.packets(frame.payloads, pts + self._offset)
        self.server.broadcast(packets, frame.keyframe)

    def _emit_audio(self, body: object, audio: L16Packetizer) -> None:
        payloads, samples = audio.payloads(body)
        if not samples:
            return
        now = round((time.time() - self.clock.wall0) * audio.rate)
        start = self._audio_next
        if now - start > _AUDIO_GAP * audio.rate:
            start = now  # silence before this piece: stamp it at its arrival
        self._audio_next = start + samples
        self.metrics.frame_encoded(0.0)
        if not self.server.playing:
            return
        step = audio.packet_bytes // audio.frame_bytes
        packets = self.rtp.spaced(payloads, start + self._offset, step)
        self.server.broadcast(packets, True)

    async def stop(self) -> None:
        """Close every session and the listener; wait for the encoder to finish."""
        await self.server.stop()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._executor.shutdown, True)
        self.codec.close()

    def _pts(self, event: Event) -> int:
        """The frame's time on the 90 kHz clock, always increasing.

        A timezone-aware ``event.timestamp`` (capture or arrival time) gives the spacing
        of frames; it is anchored to this machine's clock at the first frame and again
        whenever the two drift apart by more than :data:`_REANCHOR` seconds (a camera
        whose clock is off, or jumps): the core's :class:`MediaClock`.
        """
        now = time.time()
        stamp = event.timestamp
        if isinstance(stamp, datetime.datetime) and stamp.tzinfo is not None:
            return self.clock.pts(stamp.timestamp(), now)
        return self.clock.pts(now, now)

    # -- what the server asks (Source) -------------------------------------------------

    async def sdp(self, address: str) -> str | None:
        """The SDP; for H.264 it needs SPS/PPS, so the latest frame may be encoded now."""
        attributes = self.attributes
        if self.audio is not None:
            return l16_sdp(
                self._session_id, address, attributes.title, L16_PAYLOAD_TYPE,
                attributes.sample_rate, attributes.channels,
            )  # fmt: skip
        if isinstance(self.codec, JpegPacketizer):
            return jpeg_sdp(self._session_id, address, attributes.title, attributes.fps)
        if self._latest is None and self._first is not None:
            try:
                await asyncio.wait_for(self._first.wait(), DESCRIBE_WAIT)
            except TimeoutError:
                self.log.warning("rtsp: DESCRIBE before any frame arrived: 503")
                return None
        if self._latest is None:
            return None
        if not self._latest_encoded or not self.codec.sps:
            body, pts = self._latest
            loop = asyncio.get_running_loop()
            try:
                await loop.run_in_executor(self._executor, self.codec.encode, body, pts, True)
            except Exception as exc:  # noqa: BLE001 - a bad frame answers 503, not a crash
                self.log.warning("rtsp: cannot encode the latest frame: %s", exc)
                return None
            self._latest_encoded = True
        return h264_sdp(
            self._session_id,
            address,
            attributes.title,
            self.codec.sps,
            self.codec.pps,
            attributes.fps,
        )

    def play_info(self) -> tuple[int, int]:
        """The next sequence number and an RTP time no later than the next frame's."""
        if self.audio is not None:
            return self.rtp.seq, (self._audio_next + self._offset) & 0xFFFFFFFF
        return self.rtp.seq, (self.clock.last + 1 + self._offset) & 0xFFFFFFFF

    def request_keyframe(self) -> None:
        """Make the next encoded frame an IDR."""
        self._want_key = True

    def report(self) -> tuple[int, float]:
        """The RTP time of now and now (for RTCP sender reports)."""
        now = time.time()
        clock = self.audio.rate if self.audio is not None else _CLOCK
        return (int((now - self.clock.wall0) * clock) + self._offset) & 0xFFFFFFFF, now
