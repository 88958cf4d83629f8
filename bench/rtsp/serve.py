"""One rtsp sink fed with JPEG frames, the way the core's sink queue feeds it.

Run by bench/rtsp/run.py (pinned to one CPU). Prints ``URL <url>`` once listening, waits
for ``--viewers`` players, emits ``--count`` frames (at ``--fps``, or back to back with
``--fps 0``), then prints one JSON line: frames, wall and CPU seconds of this process
(encoder thread included), dropped packets and the emit time of every frame.

    python bench/rtsp/serve.py --frames DIR --count 300 --fps 30 --viewers 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from pathlib import Path

from dh_serverless.hookspecs import Event, Response, SinkSpec
from dh_serverless.sinks.rtsp import RtspAttributes, RtspSink


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=Path, required=True, help="a folder of *.jpg")
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--fps", type=float, default=30)
    parser.add_argument("--viewers", type=int, default=1)
    args = parser.parse_args()
    frames = [p.read_bytes() for p in sorted(args.frames.glob("*.jpg"))]
    attributes = RtspAttributes(port=0, host="127.0.0.1", fps=30, max_lag_bytes=8 << 20)
    sink = RtspSink(SinkSpec("rtsp", "bench", attributes, logging.getLogger("bench")))
    await sink.start()
    print("URL", sink.url, flush=True)
    await sink.emit(Response(body=frames[0]), Event())  # a camera's first frame: the SDP
    for _ in range(3000):
        if len(sink.server.playing) >= args.viewers:
            break
        await asyncio.sleep(0.01)
    else:
        raise SystemExit("viewers did not come")
    await asyncio.sleep(0.5)  # the players settle
    stamps: list[float] = []
    loop = asyncio.get_running_loop()
    wall, cpu = time.perf_counter(), time.process_time()
    start = loop.time()
    for index in range(args.count):
        stamps.append(time.time())
        await sink.emit(Response(body=frames[index % len(frames)]), Event())
        if args.fps:
            await asyncio.sleep(max(0.0, start + (index + 1) / args.fps - loop.time()))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    dropped = sum(v.dropped for v in sink.server.playing)
    viewers = len(sink.server.playing)
    await sink.stop()
    result = {"frames": args.count, "wall": wall, "cpu": cpu, "dropped": dropped}
    print(json.dumps({**result, "viewers": viewers, "stamps": stamps}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
