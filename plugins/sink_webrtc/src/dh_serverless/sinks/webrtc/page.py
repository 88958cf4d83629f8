"""The viewer page served at ``<path>/``: a WHEP client in plain JavaScript, nothing fetched
from elsewhere, showing the stream with its frame rate and latency.

The latency shown is the frame's age when the sink handed it to the viewer's connection
(from ``stats``: capture to sent) plus half the round trip plus, per frame, the time from
its last packet's arrival to its display (``requestVideoFrameCallback``'s ``receiveTime``
and ``expectedDisplayTime``; where a browser lacks them, the jitter buffer's delay and
the decode time from ``getStats``). The page keeps its
numbers in ``window.whep`` for scripts and tests.
"""

from __future__ import annotations

from dh_serverless.core.api import viewer_page as _page

__all__ = ("viewer_page",)

_PICTURE = '<video id="video" autoplay muted playsinline></video>'
_INFO = (
    '<span id="state">connecting</span> &middot; <span id="fps">-</span> fps\n'
    '    &middot; latency <span id="latency">-</span> ms &middot; <span id="size">-</span>'
)
_SCRIPT = """
"use strict";
const whepUrl = new URL("whep", location.href).href;
const statsUrl = new URL("stats", location.href).href;
const video = document.getElementById("video");
const show = (id, text) => { document.getElementById(id).textContent = text; };
window.whep = {state: "connecting", framesDecoded: 0, fps: 0, latencyMs: null, session: null};
let pc = null, session = null, last = null, retry = null;
const held = [];  // per frame: last packet received to displayed, ms

function onFrame(now, meta) {
  if (meta.receiveTime !== undefined) {
    held.push(meta.expectedDisplayTime - meta.receiveTime);
    if (held.length > 60) held.shift();
  }
  video.requestVideoFrameCallback(onFrame);
}
if ("requestVideoFrameCallback" in HTMLVideoElement.prototype) {
  video.requestVideoFrameCallback(onFrame);
}

function iceServers(link) {
  // RFC 9725: Link: <turn:host>; rel="ice-server"; username="u"; credential="p"
  const servers = [];
  for (const part of (link || "").split(/,(?=\\s*<)/)) {
    const m = part.match(/<([^>]+)>/);
    if (!m || !/rel="?ice-server"?/.test(part)) continue;
    const server = {urls: m[1]};
    const user = part.match(/username="([^"]*)"/), cred = part.match(/credential="([^"]*)"/);
    if (user) server.username = user[1];
    if (cred) server.credential = cred[1];
    servers.push(server);
  }
  return servers;
}

function gathered(conn, ms) {
  return new Promise((resolve) => {
    if (conn.iceGatheringState === "complete") return resolve();
    const done = () => { if (conn.iceGatheringState === "complete") resolve(); };
    conn.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, ms);
  });
}

function setState(text) { window.whep.state = text; show("state", text); }

function again(ms) {
  clearTimeout(retry);
  retry = setTimeout(start, ms);
}

async function stop() {
  if (session) fetch(session, {method: "DELETE", keepalive: true}).catch(() => {});
  session = window.whep.session = null;
  if (pc) pc.close();
  pc = null;
}

async function start() {
  await stop();
  setState("connecting");
  try {
    const options = await fetch(whepUrl, {method: "OPTIONS"});
    const servers = iceServers(options.headers.get("Link"));
    const conn = pc = new RTCPeerConnection({iceServers: servers});
    conn.addTransceiver("video", {direction: "recvonly"});
    conn.ontrack = (e) => { video.srcObject = e.streams[0] || new MediaStream([e.track]); };
    conn.onconnectionstatechange = () => {
      if (conn !== pc) return;
      setState(conn.connectionState);
      if (conn.connectionState === "failed" || conn.connectionState === "closed") again(2000);
    };
    await conn.setLocalDescription(await conn.createOffer());
    await gathered(conn, 2000);
    const r = await fetch(whepUrl, {method: "POST", body: conn.localDescription.sdp,
                                    headers: {"Content-Type": "application/sdp"}});
    const body = await r.text();
    if (r.status !== 201) { setState(`${r.status}: ${body}`); again(3000); return; }
    session = window.whep.session = new URL(r.headers.get("Location"), whepUrl).href;
    await conn.setRemoteDescription({type: "answer", sdp: body});
  } catch (e) {
    setState(`error: ${e}`);
    again(3000);
  }
}

async function poll() {
  if (!pc) return;
  let server = null;
  try { server = await (await fetch(statsUrl, {cache: "no-store"})).json(); } catch (e) {}
  const now = {rtt: null};
  (await pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video") Object.assign(now, {
      frames: s.framesDecoded || 0, at: s.timestamp, decode: s.totalDecodeTime || 0,
      jb: s.jitterBufferDelay || 0, jbCount: s.jitterBufferEmittedCount || 0,
      width: s.frameWidth, height: s.frameHeight});
    if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded")
      now.rtt = s.currentRoundTripTime;
  });
  if (now.frames === undefined) return;
  window.whep.framesDecoded = now.frames;
  if (last && now.frames > last.frames) {
    const frames = now.frames - last.frames;
    const fps = frames / ((now.at - last.at) / 1000);
    const jb = now.jbCount > last.jbCount ? (now.jb - last.jb) / (now.jbCount - last.jbCount) : 0;
    const decode = (now.decode - last.decode) / frames;
    const sent = server && server.age_ms !== null ? server.age_ms / 1000 : 0;
    const client = held.length ? held.reduce((a, b) => a + b, 0) / held.length / 1000
                               : jb + decode;
    const latency = 1000 * (sent + (now.rtt || 0) / 2 + client);
    Object.assign(window.whep, {fps, latencyMs: latency});
    show("fps", fps.toFixed(1));
    show("latency", latency.toFixed(0));
  } else if (last) {
    window.whep.fps = 0;
    show("fps", "0");
  }
  if (now.width) show("size", `${now.width}x${now.height}`);
  last = now;
}

window.addEventListener("pagehide", () => { stop(); });
start();
setInterval(poll, 1000);
"""


def viewer_page(title: str) -> bytes:
    """The HTML page playing the stream whose WHEP endpoint is ``whep`` next to it."""
    return _page(title, picture=_PICTURE, info=_INFO, script=_SCRIPT)
