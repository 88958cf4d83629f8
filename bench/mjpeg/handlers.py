"""Handlers of bench/mjpeg: an identity handler and a CPU-heavy one."""

import numpy as np
import simplejpeg
from skimage.filters import sobel


async def identity(context, event):
    return context.Response(body=event.body, content_type="image/jpeg")


def heavy(context, event):
    """Decode, Sobel edges twice over, encode: ~20-40 ms of CPU per 640x480 frame."""
    gray = simplejpeg.decode_jpeg(event.body, colorspace="GRAY")[..., 0].astype(np.float32)
    edges = sobel(sobel(gray / 255.0))
    out = np.clip(edges * 1000, 0, 255).astype(np.uint8)[..., np.newaxis]
    return context.Response(
        body=simplejpeg.encode_jpeg(out, quality=80, colorspace="GRAY"), content_type="image/jpeg"
    )
