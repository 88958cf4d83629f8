"""One encoder for every viewer: a handler result in, one compressed ``av.Packet`` out.

aiortc encodes separately for each sender when its track hands out raw frames; a track
that hands out ``av.Packet`` objects is only packetised (``Encoder.pack``). So the sink
encodes each frame here, once, and every viewer's track hands out the same packet.

Runs on the sink's single encoding thread, never on the event loop: PyAV releases the
GIL while the codec and swscale work.
"""

from __future__ import annotations

import time
from fractions import Fraction
from typing import Any

import attrs
import av
import numpy as np
from av.video.frame import PictureType

__all__ = ("CLOCK", "EncodedFrame", "FrameEncoder", "to_picture")

#: the RTP clock of video, and the time base of every packet
CLOCK = 90_000
_TIME_BASE = Fraction(1, CLOCK)
_PIX_FMT = "yuv420p"


@attrs.frozen
class EncodedFrame:
    """One frame, encoded once and shared by every viewer.

    :param packet: what the viewers' tracks hand to aiortc (``pts`` on the 90 kHz clock).
    :param keyframe: an IDR (H.264) or key frame (VP8): a viewer may start here.
    :param seq: the frame's number in the sink (consecutive: a gap is a frame missed).
    :param captured: the frame's capture time (UNIX seconds), for the viewers' latency.
    :param seconds: the time spent decoding and encoding it.
    """

    packet: Any
    keyframe: bool
    seq: int
    captured: float
    width: int
    height: int
    seconds: float


def to_picture(body: Any, decoder: Any) -> Any:
    """A handler result as a limited-range YUV 4:2:0 ``av.VideoFrame`` with even sides.

    ``body`` is JPEG bytes (decoded by FFmpeg's ``mjpeg`` decoder, ``decoder``) or an
    ``HxWx3`` ``uint8`` RGB array. Raises ``ValueError`` for anything else.
    """
    if isinstance(body, np.ndarray):
        if body.dtype != np.uint8 or body.ndim != 3 or body.shape[2] != 3:
            raise ValueError(f"expected an HxWx3 uint8 array, got {body.dtype} {body.shape}")
        even = body[: body.shape[0] & ~1, : body.shape[1] & ~1]  # crop odd sides
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(even), format="rgb24")
    else:
        if isinstance(body, memoryview | bytearray):
            body = bytes(body)
        if not isinstance(body, bytes) or body[:2] != b"\xff\xd8":
            raise ValueError(f"expected JPEG bytes or an HxWx3 array, got {type(body).__name__}")
        try:
            frames = decoder.decode(av.Packet(body))
        except av.FFmpegError as exc:
            raise ValueError(f"not a decodable JPEG: {exc}") from None
        if not frames:
            raise ValueError("not a decodable JPEG")
        frame = frames[0]
    width, height = frame.width & ~1, frame.height & ~1
    if width < 16 or height < 16:
        raise ValueError(f"frame too small: {frame.width}x{frame.height}")
    if frame.format.name != _PIX_FMT or (width, height) != (frame.width, frame.height):
        frame = frame.reformat(width=width, height=height, format=_PIX_FMT)
    return frame


class FrameEncoder:
    """libx264 (constrained baseline, ultrafast, zero latency) or libvpx (VP8, realtime).

    A new codec context is opened whenever the frame size changes; its first frame is a
    key frame. Thread-confined: call it from one thread at a time.

    :param codec: ``h264`` or ``vp8``.
    :param bitrate: target bits per second.
    :param fps: the expected frame rate: rate control and the two-second keyframe interval.
    """

    def __init__(self, codec: str, bitrate: int, fps: int) -> None:
        self.codec = codec
        self.bitrate = bitrate
        self.fps = fps
        self.width = 0
        self.height = 0
        self._ctx: Any = None
        self._decoder: Any = None
        self._last_pts = -1

    def _open(self, width: int, height: int) -> None:
        name = "libx264" if self.codec == "h264" else "libvpx"
        ctx: Any = av.CodecContext.create(name, "w")
        ctx.width, ctx.height, ctx.pix_fmt = width, height, _PIX_FMT
        ctx.time_base = _TIME_BASE
        ctx.framerate = Fraction(self.fps)
        ctx.gop_size = 2 * self.fps
        ctx.max_b_frames = 0
        kbit = max(self.bitrate // 1000, 1)
        # constant quality, capped at the bitrate: a still or simple picture costs little
        if self.codec == "h264":
            ctx.options = {
                "preset": "ultrafast",
                "tune": "zerolatency",
                "profile": "baseline",
                "level": "31" if width * height <= 1280 * 720 else "41",
                "crf": "23",
                "x264-params": f"repeat-headers=1:bframes=0:vbv-maxrate={kbit}:vbv-bufsize={kbit}",
            }
        else:
            ctx.bit_rate = self.bitrate  # libvpx's constrained quality: crf under this cap
            ctx.options = {
                "deadline": "realtime",
                "cpu-used": "8",
                "lag-in-frames": "0",
                "error-resilient": "1",
                "crf": "10",
                "maxrate": str(self.bitrate),
                "bufsize": str(self.bitrate),
            }
            ctx.thread_count = 1
        ctx.open()
        self._ctx = ctx
        self.width, self.height = width, height
        self._last_pts = -1

    def encode(
        self, body: Any, pts: int, keyframe: bool, seq: int, captured: float
    ) -> EncodedFrame | None:
        """Encode one frame at ``pts`` (90 kHz); a key frame when ``keyframe``.

        Returns ``None`` when the codec gave nothing back for it (never with the settings
        above: no look-ahead, no B-frames). Raises ``ValueError`` for a body that is no frame.
        """
        started = time.perf_counter()
        if self._decoder is None:
            self._decoder = av.CodecContext.create("mjpeg", "r")
            self._decoder.thread_count = 1  # no frame threading: no delay
        frame = to_picture(body, self._decoder)
        if self._ctx is None or (frame.width, frame.height) != (self.width, self.height):
            self._open(frame.width, frame.height)
            keyframe = True
        pts = max(pts, self._last_pts + 1)
        self._last_pts = pts
        frame.pts = pts
        frame.time_base = _TIME_BASE
        frame.pict_type = PictureType.I if keyframe else PictureType.NONE
        packets = self._ctx.encode(frame)
        if not packets:
            return None
        packet = packets[0]
        if len(packets) > 1:  # never expected without delay; keep the stream whole
            packet = av.Packet(b"".join(bytes(p) for p in packets))
            packet.pts = pts
        packet.time_base = _TIME_BASE
        return EncodedFrame(
            packet,
            bool(packet.is_keyframe) or keyframe,
            seq,
            captured,
            frame.width,
            frame.height,
            time.perf_counter() - started,
        )

    def close(self) -> None:
        """Release the codecs."""
        self._ctx = None
        self._decoder = None
