"""Turn one handler result into the RTP payloads of one frame, for H.264 or JPEG.

Runs on the sink's single encoding thread, never on the event loop: PyAV releases the
GIL while x264 and swscale work, and simplejpeg while libjpeg-turbo does.
"""

from __future__ import annotations

import time
from fractions import Fraction
from typing import Any

import attrs
import av
import numpy as np
import simplejpeg  # type: ignore[import-untyped]
from av.video.frame import PictureType

from dh_serverless.sinks.rtsp.jpeg import jpeg_payloads, parse_jpeg
from dh_serverless.sinks.rtsp.rtp import MAX_PAYLOAD, h264_payloads, split_annexb

__all__ = ("EncodedFrame", "H264Encoder", "JpegPacketizer", "to_rgb")

_SPS, _PPS, _IDR = 7, 8, 5
_MAX_JPEG_SIDE = 2040
_PIX_FMT = "yuvj420p"  # full-range YUV 4:2:0, as JPEG decodes to


@attrs.frozen
class EncodedFrame:
    """The RTP payloads of one frame and what a viewer needs to know about them."""

    payloads: list[bytes]
    keyframe: bool
    width: int
    height: int
    seconds: float  #: time spent decoding and encoding


def to_rgb(body: Any) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """A handler result as an RGB ``uint8`` array: JPEG bytes, or an ``HxWx3`` array."""
    if isinstance(body, np.ndarray):
        if body.dtype != np.uint8 or body.ndim != 3 or body.shape[2] != 3:
            raise ValueError(f"expected an HxWx3 uint8 array, got {body.dtype} {body.shape}")
        return body
    if isinstance(body, memoryview | bytearray):
        body = bytes(body)
    if not isinstance(body, bytes) or not simplejpeg.is_jpeg(body):
        raise ValueError(f"expected JPEG bytes, got {type(body).__name__}")
    rgb: np.ndarray[Any, np.dtype[np.uint8]] = simplejpeg.decode_jpeg(body, colorspace="RGB")
    return rgb


class H264Encoder:
    """PyAV's libx264 (ultrafast, zerolatency, no B-frames) and RFC 6184 payloads.

    JPEG bytes are decoded by FFmpeg's own decoder straight to full-range YUV 4:2:0
    (what the ``ffmpeg`` command line does), which x264 takes as it is: no RGB round
    trip, no range conversion. Arrays (RGB) are converted to the same format. The
    stream is flagged full range, so players convert it back to the right colours.

    A new encoder (new SPS/PPS) is opened whenever the frame size changes; its first
    frame is an IDR that carries the new parameter sets in-band.

    :param fps: the expected frame rate; the GOP is two seconds of it.
    :param bitrate: target bits per second, or 0 for x264's constant quality (CRF 23).
    """

    def __init__(self, fps: int, bitrate: int = 0) -> None:
        self.fps = fps
        self.bitrate = bitrate
        self.width = 0
        self.height = 0
        self.sps = b""
        self.pps = b""
        self._ctx: Any = None
        self._decoder: Any = None
        self._last_pts = -1

    def _open(self, width: int, height: int) -> None:
        ctx = av.CodecContext.create("libx264", "w")
        ctx.width, ctx.height, ctx.pix_fmt = width, height, _PIX_FMT
        ctx.time_base = Fraction(1, 90000)
        ctx.framerate = Fraction(self.fps)
        ctx.gop_size = 2 * self.fps
        ctx.max_b_frames = 0
        params = "repeat-headers=1:bframes=0"
        if self.bitrate:
            ctx.bit_rate = self.bitrate
            kbit = max(self.bitrate // 1000, 1)
            params += f":vbv-maxrate={kbit}:vbv-bufsize={kbit}"
        ctx.options = {"preset": "ultrafast", "tune": "zerolatency", "x264-params": params}
        ctx.open()
        self._ctx = ctx
        self.width, self.height = width, height
        self._last_pts = -1

    def _picture(self, body: Any) -> Any:
        """``body`` as a full-range YUV 4:2:0 ``av.VideoFrame`` with even sides."""
        if isinstance(body, np.ndarray):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(to_rgb(body)), format="rgb24")
        else:
            frame = self._decode(body)
        width, height = frame.width & ~1, frame.height & ~1
        if width == 0 or height == 0:
            raise ValueError(f"frame too small: {frame.width}x{frame.height}")
        if frame.format.name != _PIX_FMT or (width, height) != (frame.width, frame.height):
            frame = frame.reformat(width=width, height=height, format=_PIX_FMT)
        return frame

    def _decode(self, body: Any) -> Any:
        if isinstance(body, memoryview | bytearray):
            body = bytes(body)
        if not isinstance(body, bytes) or not simplejpeg.is_jpeg(body):
            raise ValueError(f"expected JPEG bytes, got {type(body).__name__}")
        if self._decoder is None:
            self._decoder = av.CodecContext.create("mjpeg", "r")
            self._decoder.thread_count = 1  # no frame threading: no delay
        try:
            frames = self._decoder.decode(av.Packet(body))
        except av.FFmpegError:
            frames = []
        if not frames:  # FFmpeg refused it: libjpeg-turbo may not
            rgb = to_rgb(body)
            return av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        return frames[0]

    def encode(self, body: Any, pts: int, keyframe: bool) -> EncodedFrame:
        """Encode one frame at ``pts`` (90 kHz); force an IDR when ``keyframe``."""
        started = time.perf_counter()
        frame = self._picture(body)
        if self._ctx is None or (frame.width, frame.height) != (self.width, self.height):
            self._open(frame.width, frame.height)
            keyframe = True
        pts = max(pts, self._last_pts + 1)
        self._last_pts = pts
        frame.pts = pts
        frame.pict_type = PictureType.I if keyframe else PictureType.NONE
        nals: list[bytes] = []
        for packet in self._ctx.encode(frame):
            nals.extend(split_annexb(bytes(packet)))
        is_key = False
        for nal in nals:
            kind = nal[0] & 0x1F
            if kind == _SPS:
                self.sps = nal
            elif kind == _PPS:
                self.pps = nal
            elif kind == _IDR:
                is_key = True
        return EncodedFrame(
            h264_payloads(nals, MAX_PAYLOAD),
            is_key,
            frame.width,
            frame.height,
            time.perf_counter() - started,
        )

    def close(self) -> None:
        """Release the codecs."""
        self._ctx = None
        self._decoder = None


class JpegPacketizer:
    """RFC 2435 payloads: a qualifying JPEG passes through, anything else is re-encoded.

    :param quality: the JPEG quality of re-encoded frames (4:2:0, standard tables).
    """

    def __init__(self, quality: int = 85) -> None:
        self.quality = quality
        self.passed = 0
        self.reencoded = 0
        self.last_reason = ""

    def encode(self, body: Any, pts: int, keyframe: bool) -> EncodedFrame:
        """The payloads of one frame (every JPEG frame is a keyframe)."""
        del pts, keyframe
        started = time.perf_counter()
        scan = None
        if isinstance(body, bytes | bytearray | memoryview):
            body = bytes(body)
            scan = parse_jpeg(body)
        if scan is None or not scan.qualifies:
            self.last_reason = "an array" if scan is None else scan.reason
            scan = parse_jpeg(self._reencode(to_rgb(body)))
            if not scan.qualifies:
                raise ValueError(f"re-encoded JPEG does not qualify for RTP: {scan.reason}")
            self.reencoded += 1
        else:
            self.passed += 1
        return EncodedFrame(
            jpeg_payloads(scan, MAX_PAYLOAD),
            True,
            scan.width,
            scan.height,
            time.perf_counter() - started,
        )

    def _reencode(self, rgb: np.ndarray[Any, np.dtype[np.uint8]]) -> bytes:
        step = -(-max(rgb.shape[0], rgb.shape[1]) // _MAX_JPEG_SIDE)
        if step > 1:
            rgb = rgb[::step, ::step]
        height, width = rgb.shape[0] & ~7, rgb.shape[1] & ~7
        if width == 0 or height == 0:
            raise ValueError(f"frame too small for RTP/JPEG: {rgb.shape[1]}x{rgb.shape[0]}")
        rgb = np.ascontiguousarray(rgb[:height, :width])
        data: bytes = simplejpeg.encode_jpeg(
            rgb, quality=self.quality, colorspace="RGB", colorsubsampling="420"
        )
        return data

    def close(self) -> None:
        """Nothing to release."""
