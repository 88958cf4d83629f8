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

from dh_serverless.core.api import VIDEO_CLOCK, VideoEncoder

__all__ = ("CLOCK", "EncodedFrame", "FrameEncoder")

#: the RTP clock of video, and the time base of every packet
CLOCK = VIDEO_CLOCK
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


class FrameEncoder(VideoEncoder):
    """libx264 (constrained baseline, ultrafast, zero latency) or libvpx (VP8, realtime).

    Frames become limited-range YUV 4:2:0 pictures as the core's :class:`VideoEncoder`
    makes them (JPEG through FFmpeg's ``mjpeg`` decoder, arrays cropped to even sides);
    a picture under 16 pixels a side is a ``ValueError``. A new codec context is opened
    whenever the frame size changes; its first frame is a key frame. Thread-confined:
    call it from one thread at a time.

    :param codec: ``h264`` or ``vp8``.
    :param bitrate: target bits per second.
    :param fps: the expected frame rate: rate control and the two-second keyframe interval.
    """

    def __init__(self, codec: str, bitrate: int, fps: int) -> None:
        name = "libx264" if codec == "h264" else "libvpx"
        super().__init__(name, fps=fps, pix_fmt=_PIX_FMT, min_side=16)
        self.codec = codec
        self.bitrate = bitrate

    def configure(self, ctx: Any, width: int, height: int) -> None:
        """Constant quality, capped at the bitrate: a still or simple picture costs little."""
        kbit = max(self.bitrate // 1000, 1)
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

    def encode(
        self, body: Any, pts: int, keyframe: bool, seq: int, captured: float
    ) -> EncodedFrame | None:
        """Encode one frame at ``pts`` (90 kHz); a key frame when ``keyframe``.

        Returns ``None`` when the codec gave nothing back for it (never with the settings
        above: no look-ahead, no B-frames). Raises ``ValueError`` for a body that is no frame.
        """
        started = time.perf_counter()
        frame, packets, keyframe = self.encode_packets(body, pts, keyframe)
        if not packets:
            return None
        packet = packets[0]
        if len(packets) > 1:  # never expected without delay; keep the stream whole
            packet = av.Packet(b"".join(bytes(p) for p in packets))
            packet.pts = frame.pts
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
