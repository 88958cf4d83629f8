"""Edge detection on camera frames: JPEG in, Sobel edges out as JPEG.

simplejpeg decodes and encodes (libjpeg-turbo, a few ms per 640x480 frame); scikit-image's
``sobel`` finds the edges. Each frame is independent, so ``maxWorkers`` frames are
processed at once and the mjpeg sink re-streams them in frame order.
"""

import numpy as np
import simplejpeg
from skimage.filters import sobel


def init_context(context):
    context.logger.info("edge detector ready")


def handler(context, event):
    gray = simplejpeg.decode_jpeg(event.body, colorspace="GRAY", fastdct=True)
    edges = sobel(gray[..., 0].astype(np.float32) / 255.0)
    out = np.clip(edges * 4 * 255, 0, 255).astype(np.uint8)[..., np.newaxis]
    jpeg = simplejpeg.encode_jpeg(out, quality=80, colorspace="GRAY")
    return context.Response(body=jpeg, content_type="image/jpeg", status_code=200)
