"""Turn one handler result into the RTP payloads of one frame, for H.264 or JPEG.

Runs on the sink's single encoding thread, never on the event loop: PyAV releases the
GIL while x264 and swscale work, and simplejpeg while libjpeg-turbo does.
"""

from __future__ import annotations

import time
from typing import Any

import attrs
import numpy as np
import simplejpeg  # type: ignore[import-untyped]

from dh_serverless.core.api import VideoEncoder, rgb_array
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
        rgb_array(body)
        return body
    if isinstance(body, memoryview | bytearray):
        body = bytes(body)
    if not isinstance(body, bytes) or not simplejpeg.is_jpeg(body):
        raise ValueError(f"expected JPEG bytes, got {type(body).__name__}")
    rgb: np.ndarray[Any, np.dtype[np.uint8]] = simplejpeg.decode_jpeg(body, colorspace="RGB")
    return rgb


class H264Encoder(VideoEncoder):
    """PyAV's libx264 (ultrafast, zerolatency, no B-frames) and RFC 6184 payloads.

    JPEG bytes are decoded by FFmpeg's own decoder straight to full-range YUV 4:2:0
    (what the ``ffmpeg`` command line does; a JPEG it refuses goes to libjpeg-turbo), which
    x264 takes as it is: no RGB round trip, no range conversion. Arrays (RGB) are converted
    to the same format. The stream is flagged full range, so players convert it back to
    the right colours. Frames become pictures as the core's :class:`VideoEncoder` makes them.

    A new encoder (new SPS/PPS) is opened whenever the frame size changes; its first
    frame is an IDR that carries the new parameter sets in-band.

    :param fps: the expected frame rate; the GOP is two seconds of it.
    :param bitrate: target bits per second, or 0 for x264's constant quality (CRF 23).
    """

    def __init__(self, fps: int, bitrate: int = 0) -> None:
        super().__init__("libx264", fps=fps, pix_fmt=_PIX_FMT, jpeg_fallback=to_rgb)
        self.bitrate = bitrate
        self.sps = b""
        self.pps = b""

    def configure(self, ctx: Any, width: int, height: int) -> None:
        """x264's options: ultrafast, zero latency, in-band parameter sets, the bitrate."""
        params = "repeat-headers=1:bframes=0"
        if self.bitrate:
            ctx.bit_rate = self.bitrate
            kbit = max(self.bitrate // 1000, 1)
            params += f":vbv-maxrate={kbit}:vbv-bufsize={kbit}"
        ctx.options = {"preset": "ultrafast", "tune": "zerolatency", "x264-params": params}

    def encode(self, body: Any, pts: int, keyframe: bool) -> EncodedFrame:
        """Encode one frame at ``pts`` (90 kHz); force an IDR when ``keyframe``."""
        started = time.perf_counter()
        frame, packets, _ = self.encode_packets(body, pts, keyframe)
        nals: list[bytes] = []
        for packet in packets:
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
