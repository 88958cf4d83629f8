"""Decoded video frames in the forms a handler takes: JPEG bytes or an RGB ``ndarray``.

JPEG is encoded straight from the decoder's YUV 4:2:0 planes with libjpeg-turbo
(``simplejpeg``), skipping a round trip through RGB. JPEG wants full-range YCbCr while
H.264 and H.265 usually carry limited range (16-235), so those frames are first rescaled to
full range by swscale; MJPEG sources are already full range and go straight in.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import simplejpeg  # type: ignore[import-untyped]
from av.video.reformatter import ColorRange

__all__ = ("to_jpeg", "to_rgb")

_FULL = int(ColorRange.JPEG)
_PLANAR_420 = ("yuv420p", "yuvj420p")


def to_jpeg(frame: Any, quality: int) -> bytes:
    """``frame`` (an ``av.VideoFrame``) as a baseline 4:2:0 JPEG of the same size."""
    width, height = frame.width, frame.height
    if width % 2 or height % 2:
        return bytes(simplejpeg.encode_jpeg(to_rgb(frame), quality, colorsubsampling="420"))
    full = frame.format.name == "yuvj420p" or int(frame.color_range) == _FULL
    if not (full and frame.format.name in _PLANAR_420):
        frame = frame.reformat(format="yuv420p", dst_color_range=ColorRange.JPEG)
    planes = frame.to_ndarray()  # (H * 3/2, W): Y, then U and V, each (H/2, W/2), unpadded
    y = planes[:height]
    quarter = (height // 2) * (width // 2)
    chroma = planes[height:].reshape(-1)
    u = chroma[:quarter].reshape(height // 2, width // 2)
    v = chroma[quarter:].reshape(height // 2, width // 2)
    return bytes(simplejpeg.encode_jpeg_yuv_planes(y, u, v, quality))


def to_rgb(frame: Any) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """``frame`` as a ``(height, width, 3)`` uint8 RGB array."""
    rgb: np.ndarray[Any, np.dtype[np.uint8]] = frame.to_ndarray(format="rgb24")
    return rgb
