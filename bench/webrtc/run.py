"""bench/webrtc: the webrtc sink against the mjpeg sink, glass to glass, in headless Chromium.

One run, both sinks fed the same 640x480 JPEG frames at 30 fps by bench/webrtc/serve.py
(pinned to CPU 0; Chromium on CPU 1). Each frame carries its capture time in a row of
black and white blocks; a script in each viewer page draws the picture shown (the
``<video>`` of the webrtc page, the ``<img>`` of the mjpeg page) onto a canvas at every
animation frame, reads the time back and subtracts it from the clock: capture to painted,
measured the same way for both. Then, for each sink with one viewer and with ``--viewers``:
frames seen per second, latency p50 and p95, bytes per second per viewer (the sinks'
counters: encoded bytes for webrtc, JPEG bytes for mjpeg) and the serving process's CPU.

Everything runs in a network namespace of its own (only ``lo``): WebRTC's media never
leaves loopback.

    python bench/webrtc/run.py [--seconds 6] [--viewers 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "plugins" / "sink_webrtc" / "tests"))

from browser import chromium, netns_available, netns_command  # noqa: E402

BITS = 20
MEASURE = """(() => {
  if (window.__bench) return true;
  const el = document.querySelector("video") || document.querySelector("img");
  if (!el) return false;
  window.__bench = {lat: [], bad: 0};
  const BITS = BITS_HERE, canvas = document.createElement("canvas");
  canvas.width = 640; canvas.height = 24;
  const ctx = canvas.getContext("2d", {willReadFrequently: true});
  let last = -1;
  function tick() {
    const w = el.videoWidth || el.naturalWidth, h = el.videoHeight || el.naturalHeight;
    if (w && h) {
      ctx.drawImage(el, 0, 0, w, 24 * h / 480, 0, 0, 640, 24);
      const data = ctx.getImageData(0, 0, 640, 24).data, block = 640 / BITS;
      let value = 0;
      for (let bit = 0; bit < BITS; bit++) {
        const i = (12 * 640 + Math.floor(bit * block + block / 2)) * 4;
        if (data[i] + data[i + 1] + data[i + 2] > 384) value |= (1 << bit);
      }
      if (value !== last) {
        last = value;
        const mod = 1 << BITS, lat = ((Date.now() % mod) - value + mod) % mod;
        if (lat < 5000) window.__bench.lat.push(lat); else window.__bench.bad++;
      }
    }
    requestAnimationFrame(tick);
  }
  requestAnimationFrame(tick);
  return true;
})()""".replace("BITS_HERE", str(BITS))


def taskset(cpu: str) -> list[str]:
    return ["taskset", "-c", cpu] if shutil.which("taskset") and os.cpu_count() else []


class Server:
    """bench/webrtc/serve.py, asked for its counters over stdin."""

    def __init__(self, size: str, bitrate: int) -> None:
        self.proc = subprocess.Popen(
            [*taskset("0"), sys.executable, str(HERE / "serve.py"), "--size", size,
             "--bitrate", str(bitrate)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        assert line[:1] == ["PORTS"], line
        self.webrtc, self.mjpeg = int(line[1]), int(line[2])

    def counters(self) -> dict[str, float]:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        result: dict[str, float] = json.loads(self.proc.stdout.readline())
        return result

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


SHOWS = """(() => {
  const v = document.querySelector("video"), i = document.querySelector("img");
  return v ? v.getVideoPlaybackQuality().totalVideoFrames > 10 : !!(i && i.naturalWidth);
})()"""


async def playing(browser: Any, tab: str, measure: bool, timeout: float = 30) -> None:
    """Wait until the page shows frames (and the measuring script has seen a few)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if not measure:
                if await browser.evaluate(tab, SHOWS):
                    return
            elif await browser.evaluate(tab, MEASURE):
                seen = await browser.evaluate(tab, "window.__bench.lat.length")
                if seen >= 10:
                    return
        except RuntimeError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError("the viewer page did not play")


async def window(browser: Any, tabs: list[str], server: Server, seconds: float) -> dict[str, Any]:
    """Latency samples from the first tab, the serving process's counters, over ``seconds``."""
    await browser.evaluate(tabs[0], "window.__bench.lat = []; window.__bench.bad = 0")
    before = server.counters()
    await asyncio.sleep(seconds)
    after = server.counters()
    latencies: list[float] = await browser.evaluate(tabs[0], "window.__bench.lat")
    bad = await browser.evaluate(tabs[0], "window.__bench.bad")
    shown = await browser.evaluate(tabs[0], "window.whep ? window.whep.latencyMs : null")
    return {
        "shown": shown,
        "before": before,
        "after": after,
        "lat": latencies,
        "bad": bad,
        "tabs": len(tabs),
    }


async def measure_sink(
    browser: Any, url: str, server: Server, viewers: int, seconds: float, warmup: float
) -> list[dict[str, Any]]:
    tabs = [await browser.open(url)]
    await playing(browser, tabs[0], measure=True)
    await asyncio.sleep(warmup)
    rows = [await window(browser, tabs, server, seconds)]
    for _ in range(viewers - 1):
        tabs.append(await browser.open(url))
        await playing(browser, tabs[-1], measure=False)
    await asyncio.sleep(warmup)
    rows.append(await window(browser, tabs, server, seconds))
    for tab in tabs:
        await browser.close_tab(tab)
    await asyncio.sleep(1.5)
    return rows


async def inside(args: argparse.Namespace) -> dict[str, Any]:
    server = Server(args.size, args.bitrate)
    try:
        async with chromium(*taskset("1")) as browser:
            webrtc = await measure_sink(
                browser, f"http://127.0.0.1:{server.webrtc}/processed/", server,
                args.viewers, args.seconds, args.warmup,
            )  # fmt: skip
            mjpeg = await measure_sink(
                browser, f"http://127.0.0.1:{server.mjpeg}/", server,
                args.viewers, args.seconds, args.warmup,
            )  # fmt: skip
    finally:
        server.stop()
    return {"webrtc": webrtc, "mjpeg": mjpeg}


def summary(sink: str, row: dict[str, Any]) -> dict[str, float]:
    before, after = row["before"], row["after"]
    dt = after["time"] - before["time"]
    frames = after[f"{sink}_frames"] - before[f"{sink}_frames"]
    if sink == "webrtc":
        sent = after["webrtc_bytes"] - before["webrtc_bytes"]
    else:
        sent = frames * after["jpeg_size"]
    lat = sorted(row["lat"])
    p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))] if lat else float("nan")
    return {
        "viewers": row["tabs"],
        "seen_fps": len(lat) / dt,
        "sent_fps": frames / dt / row["tabs"],
        "p50": statistics.median(lat) if lat else float("nan"),
        "p95": p95,
        "kbps": sent / dt / row["tabs"] / 1000,
        "cpu": 100 * (after["cpu"] - before["cpu"]) / dt,
        "bad": row["bad"],
        "samples": len(lat),
        "shown": row["shown"],
    }


def report(args: argparse.Namespace, results: dict[str, Any], load_before: str) -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print("## webrtc sink vs mjpeg sink: glass to glass in headless Chromium\n")
    print(
        f"{args.size} JPEG q85 4:2:0 frames at 30 fps, the same bytes to both sinks; webrtc: "
        f"H.264 (libx264 ultrafast, zerolatency, constrained baseline, "
        f"{args.bitrate // 1000} kbit/s); mjpeg: the JPEGs as they are, viewer page with "
        "?lowlatency=1. Serving process (frame source + both sinks) on CPU 0, Chromium "
        f"{shutil.which('chromium') and 'headless'} on CPU 1; {args.seconds:.0f} s per "
        f"window after {args.warmup:.0f} s of warm-up. Latency (viewer 1): capture time stamped "
        "in the picture to the picture painted, read back at each animation frame (~16 ms "
        "granularity, same for both; seen fps: the distinct pictures it read). Bytes: the "
        "sinks' own counts (webrtc: encoded video, "
        "RTP/SRTP headers aside; mjpeg: JPEG bytes, part headers aside).\n"
    )
    print(
        f"A short run on a machine shared with other engineers (2 CPUs): load average "
        f"{load_before} before, {load} after. Expect run-to-run spread.\n"
    )
    print(
        "| sink | viewers | sent fps per viewer | seen fps (viewer 1) | p50 ms | p95 ms "
        "| KB/s per viewer | serving CPU | samples (bad) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    rows = {}
    for sink in ("webrtc", "mjpeg"):
        for row in results[sink]:
            s = summary(sink, row)
            rows[(sink, s["viewers"])] = s
            print(
                f"| {sink} | {s['viewers']} | {s['sent_fps']:.1f} | {s['seen_fps']:.1f} "
                f"| {s['p50']:.0f} "
                f"| {s['p95']:.0f} | {s['kbps']:.0f} | {s['cpu']:.0f}% "
                f"| {s['samples']} ({s['bad']}) |"
            )
    many = args.viewers
    w1, wn = rows[("webrtc", 1)], rows[("webrtc", many)]
    m1, mn = rows[("mjpeg", 1)], rows[("mjpeg", many)]
    print()
    print(f"- bytes per viewer, mjpeg over webrtc: {m1['kbps'] / max(w1['kbps'], 1e-9):.1f}x")
    print(
        f"- serving CPU per additional viewer: webrtc {(wn['cpu'] - w1['cpu']) / (many - 1):+.1f}"
        f" points (first viewer: {w1['cpu']:.0f}%, the encoder's share), mjpeg "
        f"{(mn['cpu'] - m1['cpu']) / (many - 1):+.1f} points"
    )
    if w1["shown"] is not None:
        print(
            f"- the webrtc viewer page's own latency figure at the end of the window: "
            f"{w1['shown']:.0f} ms (one viewer), {wn['shown']:.0f} ms ({many} viewers)"
        )
    print(
        f"- latency p50 webrtc/mjpeg: {w1['p50']:.0f} / {m1['p50']:.0f} ms; "
        f"p95: {w1['p95']:.0f} / {m1['p95']:.0f} ms (one viewer)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each window")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--viewers", type=int, default=3)
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--bitrate", type=int, default=1_500_000)
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.viewers < 2:
        parser.error("--viewers must be at least 2")
    if args.inside:
        load_before = os.environ.get("BENCH_LOAD", "?")
        report(args, asyncio.run(inside(args)), load_before)
        return
    if not netns_available():
        raise SystemExit("bench/webrtc needs a network namespace (root, unshare and ip)")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    code = subprocess.call(
        netns_command(sys.executable, __file__, *sys.argv[1:], "--inside"),
        env={**os.environ, "BENCH_LOAD": load},
    )
    raise SystemExit(code)


if __name__ == "__main__":
    main()
