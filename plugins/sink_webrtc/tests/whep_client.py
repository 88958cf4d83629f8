"""A WHEP viewer built on aiortc, and frames to feed a sink with, for the tests."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import numpy as np
import simplejpeg
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from dh_serverless.hookspecs import Event, Response
from dh_serverless.sinks.webrtc.ice import gather_on


def picture(i: int, width: int = 320, height: int = 240) -> np.ndarray:
    """A moving gradient, ``HxWx3`` RGB."""
    y, x = np.mgrid[0:height, 0:width]
    img = np.empty((height, width, 3), np.uint8)
    img[..., 0] = (x + i * 8) % 256
    img[..., 1] = (y + i * 4) % 256
    img[..., 2] = (i * 40) % 256
    return img


def jpeg(i: int, width: int = 320, height: int = 240) -> bytes:
    """:func:`picture` as a JPEG."""
    return simplejpeg.encode_jpeg(picture(i, width, height), quality=80, colorsubsampling="420")


def event(n: int) -> Event:
    """A frame's event, captured now."""
    now = datetime.datetime.now(datetime.UTC)
    return Event(body=b"", fields={"frame_num": n}, timestamp=now)


async def feed(sink: Any, bodies: list[Any], fps: float = 30, count: int | None = None) -> int:
    """Emit ``bodies`` round and round at ``fps`` (``count`` frames, or until cancelled)."""
    n = 0
    while count is None or n < count:
        n += 1
        await sink.emit(Response(body=bodies[n % len(bodies)], content_type="image/jpeg"), event(n))
        await asyncio.sleep(1 / fps)
    return n


class Viewer:
    """One aiortc peer that did the WHEP exchange; ``frames()`` decodes what arrives."""

    def __init__(self, pc: RTCPeerConnection, track: Any, location: str, status: int) -> None:
        self.pc = pc
        self.track = track
        self.location = location
        self.status = status

    async def frames(self, count: int, timeout: float = 20) -> list[Any]:
        """The next ``count`` decoded frames (``av.VideoFrame``)."""
        out = []
        async with asyncio.timeout(timeout):
            while len(out) < count:
                out.append(await self.track.recv())
        return out


async def post_offer(
    url: str, sdp: bytes | str, content_type: str = "application/sdp"
) -> tuple[int, str, Any]:
    """POST an offer; the status, the body and the headers."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data=sdp, headers={"Content-Type": content_type}) as r,
    ):
        return r.status, await r.text(), r.headers


@contextlib.asynccontextmanager
async def whep_viewer(url: str, *, codecs: str | None = None) -> AsyncIterator[Viewer]:
    """A viewer of the WHEP endpoint ``url`` (ICE on 127.0.0.1 only); closed on exit."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    transceiver = pc.addTransceiver("video", direction="recvonly")
    if codecs is not None:
        from aiortc import RTCRtpReceiver

        transceiver.setCodecPreferences(
            [c for c in RTCRtpReceiver.getCapabilities("video").codecs if c.mimeType == codecs]
        )
    tracks: asyncio.Queue[Any] = asyncio.Queue()
    pc.on("track", tracks.put_nowait)
    try:
        with gather_on(["127.0.0.1"]):
            await pc.setLocalDescription(await pc.createOffer())
        status, answer, headers = await post_offer(url, pc.localDescription.sdp)
        assert status == 201, (status, answer)
        assert headers["Content-Type"] == "application/sdp"
        await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        track = await asyncio.wait_for(tracks.get(), 10)
        yield Viewer(pc, track, headers["Location"], status)
    finally:
        await pc.close()
