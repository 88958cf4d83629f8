"""Handler results to compressed video: what the encoding sinks (rtsp's H.264, webrtc's
H.264 and VP8) share.

A handler hands a sink a frame as JPEG bytes or as an ``HxWx3`` ``uint8`` RGB array.
:class:`VideoEncoder` turns each into an ``av.VideoFrame`` of the codec's pixel format with
even sides (JPEG decoded by FFmpeg's own ``mjpeg`` decoder straight to YUV, no RGB round
trip; an array cropped to even sides, then converted), opens the codec at the first frame
and again whenever the size changes (that frame is a key frame), keeps ``pts`` increasing
and forces a key frame when asked. A sink subclasses it: :meth:`VideoEncoder.configure`
sets its codec's options, and it reads the packets :meth:`VideoEncoder.encode_packets`
returns. Thread-confined: one encoding thread per sink, never the event loop (PyAV
releases the GIL while the codec and swscale work).

Needs PyAV and numpy, which the video sinks depend on: they are imported when the first
encoder is made, never by :mod:`dh_serverless.core.api`.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

__all__ = ("VIDEO_CLOCK", "VideoEncoder", "rgb_array")

#: the RTP clock of video (Hz), the time base of every frame and packet here
VIDEO_CLOCK = 90_000
_TIME_BASE = Fraction(1, VIDEO_CLOCK)
_SOI = b"\xff\xd8"


def rgb_array(body: Any) -> Any:
    """``body`` when it is an ``HxWx3`` ``uint8`` array (RGB), else ``ValueError``."""
    if body.dtype != "uint8" or body.ndim != 3 or body.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 uint8 array, got {body.dtype} {body.shape}")
    return body


class VideoEncoder:
    """One codec fed with handler results; see the module for what it does.

    :param codec: the encoder's FFmpeg name (``libx264``, ``libvpx``).
    :param fps: the expected frame rate (rate control; the GOP is two seconds of it).
    :param pix_fmt: the pixel format the codec takes (``yuv420p``, full-range ``yuvj420p``).
    :param min_side: the smallest width and height accepted (smaller: ``ValueError``).
    :param jpeg_fallback: decodes a JPEG that FFmpeg refused to an RGB array (a more
        lenient decoder); without it such a JPEG is a ``ValueError``.
    """

    def __init__(
        self,
        codec: str,
        *,
        fps: int,
        pix_fmt: str,
        min_side: int = 2,
        jpeg_fallback: Callable[[bytes], Any] | None = None,
    ) -> None:
        import av  # only the video sinks carry PyAV: imported when one is made
        import numpy
        from av.video.frame import PictureType

        self._av = av
        self._np = numpy
        self._picture_type = PictureType
        self.codec_name = codec
        self.fps = fps
        self.pix_fmt = pix_fmt
        self.min_side = min_side
        self.jpeg_fallback = jpeg_fallback
        self.width = 0
        self.height = 0
        self._ctx: Any = None
        self._decoder: Any = None
        self._last_pts = -1

    def configure(self, ctx: Any, width: int, height: int) -> None:
        """Set the codec's own options on ``ctx`` (an ``av.CodecContext`` not yet open,
        with size, pixel format, time base, frame rate, GOP and no B-frames already set)."""

    def picture(self, body: Any) -> Any:
        """``body`` (JPEG bytes or an RGB array) as an ``av.VideoFrame`` of ``pix_fmt``
        with even sides; ``ValueError`` for anything else."""
        av, np = self._av, self._np
        if isinstance(body, np.ndarray):
            rgb = rgb_array(body)
            self._check_size(rgb.shape[1], rgb.shape[0])
            even = rgb[: rgb.shape[0] & ~1, : rgb.shape[1] & ~1]  # crop odd sides
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(even), format="rgb24")
        else:
            frame = self._decode(body)
            self._check_size(frame.width, frame.height)
        width, height = frame.width & ~1, frame.height & ~1
        if frame.format.name != self.pix_fmt or (width, height) != (frame.width, frame.height):
            frame = frame.reformat(width=width, height=height, format=self.pix_fmt)
        return frame

    def _check_size(self, width: int, height: int) -> None:
        if width & ~1 < self.min_side or height & ~1 < self.min_side:
            raise ValueError(f"frame too small: {width}x{height}")

    def _decode(self, body: Any) -> Any:
        av = self._av
        if isinstance(body, memoryview | bytearray):
            body = bytes(body)
        if not isinstance(body, bytes) or body[:2] != _SOI:
            raise ValueError(f"expected JPEG bytes or an HxWx3 array, got {type(body).__name__}")
        if self._decoder is None:
            self._decoder = av.CodecContext.create("mjpeg", "r")
            self._decoder.thread_count = 1  # no frame threading: no delay
        try:
            frames = self._decoder.decode(av.Packet(body))
        except av.FFmpegError as exc:
            frames, error = [], f": {exc}"
        else:
            error = ""
        if frames:
            return frames[0]
        if self.jpeg_fallback is None:
            raise ValueError(f"not a decodable JPEG{error}")
        rgb = rgb_array(self.jpeg_fallback(body))
        return av.VideoFrame.from_ndarray(self._np.ascontiguousarray(rgb), format="rgb24")

    def _open(self, width: int, height: int) -> None:
        ctx: Any = self._av.CodecContext.create(self.codec_name, "w")
        ctx.width, ctx.height, ctx.pix_fmt = width, height, self.pix_fmt
        ctx.time_base = _TIME_BASE
        ctx.framerate = Fraction(self.fps)
        ctx.gop_size = 2 * self.fps
        ctx.max_b_frames = 0
        self.configure(ctx, width, height)
        ctx.open()
        self._ctx = ctx
        self.width, self.height = width, height
        self._last_pts = -1

    def encode_packets(self, body: Any, pts: int, keyframe: bool) -> tuple[Any, list[Any], bool]:
        """Encode ``body`` at ``pts`` (90 kHz; raised to follow the previous frame's), a key
        frame when ``keyframe`` or when the codec was (re)opened for a new size.

        Returns the ``av.VideoFrame`` encoded (its ``pts`` and size final), the codec's
        packets for it, and whether a key frame was asked of the codec.
        """
        frame = self.picture(body)
        if self._ctx is None or (frame.width, frame.height) != (self.width, self.height):
            self._open(frame.width, frame.height)
            keyframe = True
        pts = max(pts, self._last_pts + 1)
        self._last_pts = pts
        frame.pts = pts
        frame.time_base = _TIME_BASE
        kinds = self._picture_type
        frame.pict_type = kinds.I if keyframe else kinds.NONE
        return frame, self._ctx.encode(frame), keyframe

    def close(self) -> None:
        """Release the codecs (the next frame opens them again)."""
        self._ctx = None
        self._decoder = None
