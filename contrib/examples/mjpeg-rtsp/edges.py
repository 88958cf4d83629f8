"""Edge detection for the mjpeg-rtsp example: a JPEG frame in, its edges as a JPEG out.

A Sobel filter written with numpy slices, so the example needs nothing beyond what the
rtsp sink already installs (numpy, simplejpeg).
"""

import numpy as np
import simplejpeg


def edges(rgb):
    """The Sobel gradient magnitude of ``rgb`` as a white-on-black ``uint8`` RGB image."""
    grey = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    padded = np.pad(grey, 1, mode="edge")
    top, middle, bottom = padded[:-2], padded[1:-1], padded[2:]
    gx = (top[:, 2:] + 2 * middle[:, 2:] + bottom[:, 2:]) - (
        top[:, :-2] + 2 * middle[:, :-2] + bottom[:, :-2]
    )
    gy = (bottom[:, :-2] + 2 * bottom[:, 1:-1] + bottom[:, 2:]) - (
        top[:, :-2] + 2 * top[:, 1:-1] + top[:, 2:]
    )
    magnitude = np.clip(np.hypot(gx, gy) / 4, 0, 255).astype(np.uint8)
    return np.repeat(magnitude[:, :, None], 3, axis=2)


def handler(context, event):
    """Answer one camera frame (``event.body``: JPEG bytes) with its edges (JPEG bytes)."""
    rgb = simplejpeg.decode_jpeg(event.body, colorspace="RGB", fastdct=True)
    out = simplejpeg.encode_jpeg(edges(rgb), quality=85, colorsubsampling="420")
    return context.Response(body=out, content_type="image/jpeg", status_code=200)
