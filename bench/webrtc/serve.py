"""A webrtc sink and an mjpeg sink fed the same camera frames, as the core's queues feed them.

Run by bench/webrtc/run.py (pinned to one CPU). Every 1/30 s it draws a 640x480 frame
whose top row of blocks holds the capture time (milliseconds, modulo 2**20), encodes it to
JPEG as a camera would, and emits the same bytes to both sinks at once. Prints
``PORTS <webrtc> <mjpeg>`` once listening; each line read on stdin is answered with one
JSON line of counters (frames and bytes sent by each sink); stdin closed: stop.

    python bench/webrtc/serve.py --size 640x480 --fps 30
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import logging
import sys
import time

import numpy as np
import simplejpeg

from dh_serverless.hookspecs import Event, Response, SinkSpec
from dh_serverless.sinks.mjpeg import MjpegSink, MjpegSinkAttributes
from dh_serverless.sinks.webrtc import WebRtcSink, WebRtcSinkAttributes

BITS = 20  # the capture time, ms modulo 2**20 (17 minutes)


def pictures(width: int, height: int, count: int) -> list[np.ndarray]:
    """A moving picture (what a camera sees), without the time stamp."""
    y, x = np.mgrid[0:height, 0:width]
    return [
        np.stack([(x + i * 4) % 256, (y + i * 2) % 256, ((x + y) // 8 + i) % 256], axis=-1).astype(
            np.uint8
        )
        for i in range(count)
    ]


def stamp(image: np.ndarray, ms: int) -> np.ndarray:
    """``image`` with ``ms`` in BITS black/white blocks along the top (bit 0 leftmost)."""
    out = image.copy()
    block = out.shape[1] // BITS
    for bit in range(BITS):
        out[:24, bit * block : (bit + 1) * block] = 255 * ((ms >> bit) & 1)
    return out


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--fps", type=float, default=30)
    parser.add_argument("--bitrate", type=int, default=1_500_000)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    log = logging.getLogger("bench")
    webrtc = WebRtcSink(
        SinkSpec(
            "webrtc",
            "bench",
            WebRtcSinkAttributes(port=0, host="127.0.0.1", bitrate=args.bitrate, max_viewers=8),
            log,
        )
    )
    mjpeg = MjpegSink(
        SinkSpec("mjpeg", "bench", MjpegSinkAttributes(port=0, host="127.0.0.1"), log)
    )
    await webrtc.start()
    await mjpeg.start()
    print("PORTS", webrtc.port, mjpeg.port, flush=True)
    frames = pictures(width, height, 60)
    sizes = {"total": 0, "count": 0}

    async def feed() -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        index = 0
        while True:
            now = time.time()
            image = stamp(frames[index % len(frames)], int(now * 1000) % (1 << BITS))
            body = simplejpeg.encode_jpeg(image, quality=85, colorsubsampling="420")
            event = Event(timestamp=datetime.datetime.fromtimestamp(now, datetime.UTC))
            await asyncio.gather(
                webrtc.emit(Response(body=body), event), mjpeg.emit(Response(body=body), event)
            )
            index += 1
            sizes["total"] += len(body)
            sizes["count"] += 1
            await asyncio.sleep(max(0.0, start + index / args.fps - loop.time()))

    def mjpeg_sent() -> float:
        cell = mjpeg.spec.metrics.counter("dh_mjpeg_sink_frames_sent", "", ("trigger",))
        return float(cell.labels("bench").value)

    def counters() -> dict[str, float]:
        m = webrtc.spec.metrics
        return {
            "webrtc_frames": m.counter("dh_webrtc_frames_sent", "", ("trigger",))
            .labels("bench")
            .value,
            "webrtc_bytes": m.counter("dh_webrtc_sent_bytes", "", ("trigger",))
            .labels("bench")
            .value,
            "webrtc_encoded": m.counter("dh_webrtc_frames_encoded", "", ("trigger", "codec"))
            .labels("bench", "h264")
            .value,
            "mjpeg_frames": mjpeg_sent(),
            "jpeg_size": sizes["total"] / max(sizes["count"], 1),
            "webrtc_viewers": webrtc.viewers,
            "mjpeg_viewers": mjpeg.viewers,
            "cpu": time.process_time(),
            "time": time.monotonic(),
        }

    task = asyncio.ensure_future(feed())
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.readline():
        print(json.dumps(counters()), flush=True)
    task.cancel()
    await webrtc.stop()
    await mjpeg.stop()


if __name__ == "__main__":
    asyncio.run(main())
