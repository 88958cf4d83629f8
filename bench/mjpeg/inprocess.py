"""bench/mjpeg/inprocess.py: the mjpeg trigger's own cost per frame, in process, no network.

A 640x480 clip (ffmpeg's testsrc2, 300 frames) as the multipart body ``source.py`` sends is
fed to ``MjpegParser`` in 1 MiB chunks, as the trigger reads it; each frame then goes
through the trigger's ``_on_frame`` (the event), the ``LatestWins`` scheduler and the core's
dispatch to an async identity handler. Three stages, each including the ones before:

- ``parse``: the parser alone;
- ``event``: and the event the trigger builds for each frame;
- ``full``: and the scheduler, the core's dispatch and the handler.

Prints µs of CPU per frame (``time.process_time``), the best of ``--rounds``.

    python bench/mjpeg/inprocess.py [--reps 10] [--rounds 5] [--stage parse|event|full]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

from dh_serverless.core.dispatch import Gate, build_dispatch
from dh_serverless.core.function import LoadedHandler
from dh_serverless.core.metrics import EventStats
from dh_serverless.core.pool import WorkerPool
from dh_serverless.core.workers import AsyncWorker, WorkerOptions
from dh_serverless.hookspecs import FunctionInfo, TriggerInfo, TriggerSpec
from dh_serverless.triggers.mjpeg.config import MjpegAttributes
from dh_serverless.triggers.mjpeg.parser import MjpegParser
from dh_serverless.triggers.mjpeg.scheduler import LatestWins
from dh_serverless.triggers.mjpeg.trigger import MjpegTrigger

CHUNK = 1 << 20


def body_chunks() -> list[bytes]:
    """The multipart body of a 640x480 clip, cut in 1 MiB reads."""
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mjpeg"
        subprocess.run(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
             "testsrc2=size=640x480:rate=30", "-frames:v", "300", "-c:v", "mjpeg",
             "-q:v", "5", "-f", "mjpeg", "-y", str(clip)],
            check=True,
        )  # fmt: skip
        data = clip.read_bytes()
    frames, i = [], 0
    while (j := data.find(b"\xff\xd9", i)) >= 0:
        frames.append(data[i : j + 2])
        i = j + 2
    blob = b"".join(
        b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(f) + f + b"\r\n"
        for f in frames
    )
    return [blob[k : k + CHUNK] for k in range(0, len(blob), CHUNK)]


async def identity(context: Any, event: Any) -> Any:
    return context.Response(body=event.body, content_type="image/jpeg")


async def run(stage: str, chunks: list[bytes], reps: int) -> float:
    info = TriggerInfo("mjpeg", "cam")
    loaded = LoadedHandler("bench:identity", Path("."), identity, None)
    stats = EventStats("bench", "mjpeg")
    pool = WorkerPool(
        lambda i: AsyncWorker(loaded, i, WorkerOptions(info)), 1, wait_timeout=10, stats=stats
    )
    await pool.start()
    dispatch = build_dispatch(pool, Gate(), event_timeout=None, stats=stats)
    spec = TriggerSpec(
        name="cam", kind="mjpeg", attributes=MjpegAttributes(url="http://127.0.0.1/"),
        function=FunctionInfo("bench"), workers=1,
    )  # fmt: skip
    trigger = MjpegTrigger(spec)
    scheduler = trigger._scheduler = LatestWins(dispatch, 1, trigger.metrics, spec.logger)
    if stage == "event":
        scheduler.offer = lambda event: None  # type: ignore[method-assign]
    parser = MjpegParser("frame")
    frames = 0
    start = time.process_time()
    for _ in range(reps):
        for chunk in chunks:
            got = parser.feed(chunk)
            frames += len(got)
            if stage != "parse" and got:
                trigger._on_frame(got[0])
                for frame in got[1:]:
                    await scheduler.settle()
                    trigger._on_frame(frame)
            await asyncio.sleep(0)  # the next read
    await scheduler.drain(1.0)
    return (time.process_time() - start) / frames * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--stage", choices=["parse", "event", "full"], action="append")
    args = parser.parse_args()
    chunks = body_chunks()
    stages = args.stage or ["parse", "event", "full"]
    best = {
        s: min(uvloop.run(run(s, chunks, args.reps)) for _ in range(args.rounds)) for s in stages
    }
    print(f"bench/mjpeg/inprocess: 640x480, 1 MiB reads, best of {args.rounds} x {args.reps} reps")
    print()
    print("| stage | µs CPU per frame |")
    print("|---|---:|")
    for s in stages:
        print(f"| {s} | {best[s]:.1f} |")


if __name__ == "__main__":
    main()
