"""An MJPEG source for the benchmark, serving the frames of a clip in a loop.

``--fps N``: paced, each frame stamped with its send time (a JPEG COM segment) for
viewer.py. ``--fps 0``: as fast as the client reads, the whole clip prebuilt as one
multipart blob (so the source costs next to nothing and the reader is what is measured).

    python source.py clip.mjpeg --port 8081 --fps 30
"""

import argparse
import asyncio
import struct
import time
from pathlib import Path

import uvloop
from aiohttp import web


def split_jpegs(data: bytes) -> list[bytes]:
    frames, start = [], data.find(b"\xff\xd8")
    while start >= 0:
        end = data.find(b"\xff\xd9\xff\xd8", start)
        stop = len(data) if end < 0 else end + 2
        frames.append(data[start:stop])
        start = -1 if end < 0 else end + 2
    return frames


def stamp(jpeg: bytes, seq: int) -> bytes:
    tag = b"t=%.6f;n=%d" % (time.time(), seq)
    return jpeg[:2] + b"\xff\xfe" + struct.pack(">H", len(tag) + 2) + tag + jpeg[2:]


def make_app(frames: list[bytes], fps: float) -> web.Application:
    async def stream(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={"Content-Type": "multipart/x-mixed-replace; boundary=frame"}
        )
        await resp.prepare(request)
        loop = asyncio.get_running_loop()
        start = loop.time()
        seq = 0
        while True:
            jpeg = stamp(frames[seq % len(frames)], seq)
            head = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpeg)
            await resp.write(head + jpeg + b"\r\n")
            seq += 1
            await asyncio.sleep(max(0.0, start + seq / fps - loop.time()))

    blob = b"".join(
        b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(f) + f
        + b"\r\n"
        for f in frames
    )  # fmt: skip

    async def firehose(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={"Content-Type": "multipart/x-mixed-replace; boundary=frame"}
        )
        await resp.prepare(request)
        while True:
            await resp.write(blob)

    app = web.Application()
    app.router.add_get("/", stream if fps > 0 else firehose)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("clip")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fps", type=float, default=30.0)
    args = parser.parse_args()
    frames = split_jpegs(Path(args.clip).read_bytes())
    uvloop.install()
    web.run_app(make_app(frames, args.fps), host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
