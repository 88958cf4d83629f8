"""The rtsp_video-webhook test's handler without YOLO: an object-detection-shaped handler
that opens the JPEG with Pillow as the original does and reports one box, the frame."""

import base64
import io
import json

from PIL import Image


def handler(context, event):
    frame_bytes = getattr(event, "body", None)
    if not frame_bytes or not frame_bytes.startswith(b"\xff\xd8"):
        return ""
    image = Image.open(io.BytesIO(frame_bytes))
    image.load()
    width, height = image.size
    detections = [
        {"name": "frame", "confidence": 1.0, "box": {"x1": 0, "y1": 0, "x2": width, "y2": height}}
    ]
    payload = {
        "YOLO results": detections,
        "data": base64.b64encode(frame_bytes).decode("utf-8"),
        "Frame Size": len(frame_bytes),
    }
    return context.Response(
        body=json.dumps(payload), status_code=200, content_type="application/json"
    )
