"""A page on another origin plays the stream over WHEP in Chromium (CORS pre-flights, the
exposed ``Location``, ``DELETE``), as a dashboard embedding the camera would.

Run by ``test_chromium.py`` inside a network namespace of its own (see ``browser.py``);
prints one JSON line with what the page saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).parent))

from browser import chromium
from whep_client import feed, jpeg

from dh_serverless.hookspecs import SinkSpec
from dh_serverless.sinks.webrtc import WebRtcSink, WebRtcSinkAttributes

PAGE = """<!doctype html><title>dashboard</title><video autoplay muted playsinline></video>
<script>
window.result = (async () => {
  const whep = "WHEP";
  const pc = new RTCPeerConnection();
  pc.addTransceiver("video", {direction: "recvonly"});
  const video = document.querySelector("video");
  pc.ontrack = (e) => { video.srcObject = e.streams[0] || new MediaStream([e.track]); };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((r) => { pc.onicegatheringstatechange = () =>
    pc.iceGatheringState === "complete" && r(); setTimeout(r, 2000); });
  const post = await fetch(whep, {method: "POST", body: pc.localDescription.sdp,
                                  headers: {"Content-Type": "application/sdp"}});
  const location = post.headers.get("Location");
  await pc.setRemoteDescription({type: "answer", sdp: await post.text()});
  const start = Date.now();
  while (video.getVideoPlaybackQuality().totalVideoFrames < 30 && Date.now() - start < 15000)
    await new Promise((r) => setTimeout(r, 100));
  const frames = video.getVideoPlaybackQuality().totalVideoFrames;
  const del = await fetch(new URL(location, whep), {method: "DELETE"});
  pc.close();
  return {post: post.status, location, frames, width: video.videoWidth, del: del.status};
})().catch((e) => ({error: String(e)}));
</script>"""


async def main() -> None:
    sink = WebRtcSink(SinkSpec("webrtc", "cam", WebRtcSinkAttributes(port=0, host="127.0.0.1")))
    await sink.start()
    feeder = asyncio.ensure_future(feed(sink, [jpeg(i) for i in range(30)]))
    whep = f"http://127.0.0.1:{sink.port}/processed/whep"
    app = web.Application()
    app.router.add_get(
        "/", lambda _: web.Response(text=PAGE.replace("WHEP", whep), content_type="text/html")
    )
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with chromium() as browser:
            tab = await browser.open(f"http://127.0.0.1:{port}/")
            for _ in range(300):  # the page loads on a busy machine
                with contextlib.suppress(RuntimeError):  # still navigating
                    if await browser.evaluate(tab, "window.result !== undefined"):
                        break
                await asyncio.sleep(0.1)
            result = await browser.evaluate(tab, "window.result")
            await asyncio.sleep(0.5)
            result["viewers_after"] = sink.viewers
    finally:
        feeder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await feeder
        await runner.cleanup()
        await sink.stop()
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
