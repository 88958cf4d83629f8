"""Three Chromium viewers of the viewer page at once; one of them vanishes without a word.

Run by ``test_chromium.py`` inside a network namespace of its own (see ``browser.py``);
prints one JSON line with what it saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import sys
import time
from pathlib import Path

import aiohttp
import numpy as np
import simplejpeg

sys.path.insert(0, str(Path(__file__).parent))

from browser import chromium

from dh_serverless.hookspecs import Event, Response, SinkSpec
from dh_serverless.sinks.webrtc import WebRtcSink, WebRtcSinkAttributes

WIDTH, HEIGHT = 320, 240
STATS = """(() => {
  const v = document.querySelector("video");
  if (!window.whep || !v) return {state: "loading", decoded: 0, shown: 0, width: 0};
  return {state: window.whep.state, decoded: window.whep.framesDecoded,
          shown: v.getVideoPlaybackQuality().totalVideoFrames,
          width: v.videoWidth, height: v.videoHeight, fps: window.whep.fps,
          latency: window.whep.latencyMs, text: document.getElementById("info").textContent};
})()"""


def frames() -> list[bytes]:
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    out = []
    for i in range(30):
        img = np.empty((HEIGHT, WIDTH, 3), np.uint8)
        img[..., 0] = (x + i * 8) % 256
        img[..., 1] = (y + i * 4) % 256
        img[..., 2] = (i * 40) % 256
        out.append(simplejpeg.encode_jpeg(img, quality=80, colorsubsampling="420"))
    return out


async def feed(sink: WebRtcSink) -> None:
    jpegs = frames()
    n = 0
    while True:
        n += 1
        now = datetime.datetime.now(datetime.UTC)
        event = Event(body=b"", fields={"frame_num": n}, timestamp=now)
        await sink.emit(Response(body=jpegs[n % len(jpegs)], content_type="image/jpeg"), event)
        await asyncio.sleep(1 / 30)


async def until(condition, timeout: float) -> float:
    start = time.monotonic()
    while True:
        with contextlib.suppress(RuntimeError):  # a page still navigating
            if await condition():
                break
        if time.monotonic() - start > timeout:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


async def growth(stats, frames: int = 30, limit: float = 20) -> tuple[list, list, float]:
    """Stats before and once every viewer decoded ``frames`` more (or ``limit`` s passed)."""
    before = await stats()
    start = time.monotonic()
    while True:
        await asyncio.sleep(0.25)
        after = await stats()
        grown = all(
            a["decoded"] - b["decoded"] >= frames for a, b in zip(after, before, strict=True)
        )
        if grown or time.monotonic() - start > limit:
            return before, after, time.monotonic() - start


async def _fewer(sink: WebRtcSink, count: int) -> bool:
    return sink.viewers < count


async def main() -> None:
    timeout = 3.0
    codec = sys.argv[1] if len(sys.argv) > 1 else "h264"
    attributes = WebRtcSinkAttributes(
        port=0,
        host="127.0.0.1",
        path="/processed",
        codec=codec,
        max_viewers=3,
        viewer_timeout=timeout,
    )
    sink = WebRtcSink(SinkSpec("webrtc", "cam", attributes))
    await sink.start()
    feeder = asyncio.ensure_future(feed(sink))
    result: dict[str, object] = {}
    try:
        async with chromium() as a, chromium() as b:
            tabs = [
                (a, await a.open(sink.url)),
                (a, await a.open(sink.url)),
                (b, await b.open(sink.url)),
            ]

            async def stats() -> list[dict]:
                return [await browser.evaluate(tab, STATS) for browser, tab in tabs]

            async def all_playing() -> bool:
                return all(s["decoded"] > 15 and s["width"] for s in await stats())

            result["time_to_play"] = await until(all_playing, 30)
            first, second, result["grow_seconds"] = await growth(stats)
            result["first"], result["second"] = first, second
            result["viewers_before"] = sink.viewers
            # a fourth viewer while three watch: 503, and the three go on
            async with (
                aiohttp.ClientSession() as http,
                http.post(
                    f"http://127.0.0.1:{sink.port}/processed/whep",
                    data=b"v=0\r\n",
                    headers={"Content-Type": "application/sdp"},
                ) as r,
            ):
                result["full_status"] = r.status
            # the third viewer's browser vanishes: no DELETE, no DTLS close
            b.kill()
            gone = time.monotonic()
            with contextlib.suppress(AssertionError):
                await until(lambda: _fewer(sink, 3), 30)
            result["cleanup_seconds"] = time.monotonic() - gone
            result["viewers_after"] = sink.viewers
            tabs.pop()
            before, after, result["survivors_grow_seconds"] = await growth(stats)
            result["survivors_before"], result["survivors_after"] = before, after
    finally:
        feeder.cancel()
        metrics = sink.spec.metrics
        await sink.stop()
    result["closed_failed"] = (
        metrics.counter("dh_webrtc_sessions_closed", "", ("trigger", "reason"))
        .labels("cam", "failed")
        .value
    )
    result["full_count"] = (
        metrics.counter("dh_webrtc_sessions", "", ("trigger", "outcome"))
        .labels("cam", "full")
        .value
    )
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
