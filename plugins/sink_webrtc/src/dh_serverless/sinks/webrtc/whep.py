"""WHEP (RFC 9725) over aiohttp: one ``RTCPeerConnection`` per viewer, the page, its stats.

``POST <path>/whep`` takes an SDP offer (``application/sdp``) and answers ``201 Created``
with the SDP answer (all candidates gathered: no trickle) and the session's ``Location``;
``DELETE`` on that location ends it. ``OPTIONS`` answers CORS pre-flights and carries the
ICE servers as ``Link`` headers. A bad offer gets 400, a full house 503; neither touches
the sessions already running, each of which has its own connection and track.

A viewer that vanishes is closed by its watchdog: when ICE fails, or when no RTCP report
came from it for ``viewerTimeout`` (browsers send one about every second), or when ICE
has not connected within that time.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.rtp import RTCP_PSFB_FIR, RTCP_PSFB_PLI, RtcpPsfbPacket
from aiortc.sdp import SessionDescription

from dh_serverless.core.api import HttpListener, serve_app
from dh_serverless.sinks.webrtc.ice import announce, gather_on, keep_reachable
from dh_serverless.sinks.webrtc.page import viewer_page
from dh_serverless.sinks.webrtc.track import ViewerTrack

if TYPE_CHECKING:
    from dh_serverless.sinks.webrtc.sink import WebRtcSink

__all__ = ("MAX_OFFER", "Viewer", "WhepServer")

#: the largest SDP offer taken, in bytes (a browser's is 3 to 6 KB); more is answered 413
MAX_OFFER = 64 * 1024
_MIME = {"h264": "video/h264", "vp8": "video/vp8"}
_ALLOW_COLLECTION = "POST, OPTIONS"
_ALLOW_SESSION = "DELETE, OPTIONS"


class BadOffer(ValueError):
    """An offer this sink cannot answer: the message goes back in the 400's body."""


class Viewer:
    """One WHEP session: its connection, its track and when it was last heard from."""

    __slots__ = ("created", "id", "last_rtcp", "pc", "remote", "track", "watchdog")

    def __init__(
        self, session_id: str, pc: RTCPeerConnection, track: ViewerTrack, remote: str
    ) -> None:
        self.id = session_id
        self.pc = pc
        self.track = track
        self.remote = remote
        self.created = time.monotonic()
        self.last_rtcp: float | None = None
        self.watchdog: asyncio.Task[None] | None = None


class WhepServer:
    """The HTTP side of a :class:`~dh_serverless.sinks.webrtc.sink.WebRtcSink`."""

    def __init__(self, sink: WebRtcSink) -> None:
        self.sink = sink
        self.attributes = sink.attributes
        self.sessions: dict[str, Viewer] = {}
        self._pending = 0
        self._listener: HttpListener | None = None
        self._closing = False
        self._links = [_link(server) for server in self.attributes.ice_servers]
        self._ice = RTCConfiguration(
            iceServers=[
                RTCIceServer(urls=list(s.urls), username=s.username, credential=s.credential)
                for s in self.attributes.ice_servers
            ]
        )  # an empty list: aiortc would otherwise ask a public STUN server

    @property
    def port(self) -> int:
        """The port listened on (the one picked for ``port: 0`` once started)."""
        listener = self._listener
        return listener.port if listener is not None else self.attributes.port

    @property
    def closing(self) -> bool:
        """Whether the sink is stopping (new offers get 503)."""
        return self._closing

    @property
    def viewers(self) -> int:
        """Sessions running or being negotiated."""
        return len(self.sessions) + self._pending

    async def start(self) -> None:
        """Listen on ``host:port``; a port in use is a :class:`UserError`."""
        a = self.attributes
        base = a.path.rstrip("/")
        app = web.Application(client_max_size=MAX_OFFER, middlewares=[self._cors])
        app.router.add_get(f"{base}/", self._page)
        app.router.add_get(f"{base}/stats", self._stats)
        app.router.add_post(f"{base}/whep", self._offer)
        app.router.add_route("OPTIONS", f"{base}/whep", self._options)
        app.router.add_delete(f"{base}/whep/{{session}}", self._delete)
        app.router.add_route("OPTIONS", f"{base}/whep/{{session}}", self._options)
        app.router.add_patch(f"{base}/whep/{{session}}", self._patch)
        if base:
            app.router.add_get(base, self._to_page)
            app.router.add_get("/", self._to_page)
        self._listener = await serve_app(
            app, a.host, a.port, name="webrtc sink",
            hint="choose another sink port (attributes.sink.attributes.port)",
        )  # fmt: skip

    async def stop(self) -> None:
        """Close every session, then the listener."""
        self._closing = True
        await asyncio.gather(
            *(self._close(v, "shutdown") for v in list(self.sessions.values())),
            return_exceptions=True,
        )
        listener = self._listener
        if listener is not None:
            await listener.stop()

    # -- sessions ---------------------------------------------------------------------

    async def _negotiate(self, offer: str, remote: str) -> tuple[Viewer, str]:
        """A new session for ``offer`` and its SDP answer; :class:`BadOffer` if it cannot be."""
        try:
            parsed = SessionDescription.parse(offer)
        except Exception as exc:  # noqa: BLE001 - any parse failure is the client's
            raise BadOffer(f"malformed SDP offer: {exc or type(exc).__name__}") from None
        videos = [m for m in parsed.media if m.kind == "video"]
        if not videos:
            raise BadOffer("the offer has no video section (m=video)")
        if videos[0].direction not in ("recvonly", "sendrecv", None):
            raise BadOffer(f"the offer's video is {videos[0].direction}: a viewer must receive")
        codec = self.attributes.codec
        addresses = self.sink.ice_addresses()
        pc = RTCPeerConnection(self._ice)
        try:
            transceiver = pc.addTransceiver("video", direction="sendonly")
            mime = _MIME[codec]
            transceiver.setCodecPreferences(
                [
                    c
                    for c in RTCRtpSender.getCapabilities("video").codecs
                    if c.mimeType.lower() in (mime, "video/rtx")
                ]
            )
            try:
                await pc.setRemoteDescription(
                    RTCSessionDescription(keep_reachable(offer, addresses), "offer")
                )
            except Exception as exc:  # noqa: BLE001 - aiortc rejects in many ways
                text = str(exc) or type(exc).__name__
                if "send parameters" in text:
                    text = f"the offer has no {codec.upper()} this sink can send ({text})"
                raise BadOffer(f"cannot use the offer: {text}") from None
            session_id = secrets.token_urlsafe(12)
            track = ViewerTrack(self.sink.hub, self.sink.want_keyframe, self.sink.on_frame)
            transceiver.sender.replaceTrack(track)
            viewer = Viewer(session_id, pc, track, remote)
            self._watch_rtcp(viewer, transceiver.sender)
            answer = await pc.createAnswer()
            with gather_on(addresses):
                await pc.setLocalDescription(answer)
            sdp = announce(pc.localDescription.sdp, self.attributes.additional_hosts)
        except BaseException:
            await pc.close()
            raise
        return viewer, sdp

    def _watch_rtcp(self, viewer: Viewer, sender: RTCRtpSender) -> None:
        """Note each RTCP packet from the viewer; a lost picture asks for a key frame.

        aiortc routes the viewer's RTCP to ``sender._handle_rtcp_packet``; it is wrapped
        on this one sender instance.
        """
        original = sender._handle_rtcp_packet
        track = viewer.track

        async def handle(packet: Any) -> None:
            viewer.last_rtcp = time.monotonic()
            if isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
                track.request_keyframe()
            await original(packet)

        sender._handle_rtcp_packet = handle  # type: ignore[method-assign]

    async def _watch(self, viewer: Viewer) -> None:
        timeout = float(self.attributes.viewer_timeout)
        step = min(1.0, timeout / 4)
        while viewer.id in self.sessions:
            await asyncio.sleep(step)
            state = viewer.pc.connectionState
            heard = viewer.last_rtcp if viewer.last_rtcp is not None else viewer.created
            if state in ("failed", "closed") or time.monotonic() - heard > timeout:
                self.sink.log.info(
                    "webrtc sink: viewer %s (%s) gone (connection %s, last heard %.1fs ago): "
                    "closed", viewer.id, viewer.remote, state, time.monotonic() - heard,
                )  # fmt: skip
                await self._close(viewer, "failed")
                return

    async def _close(self, viewer: Viewer, reason: str) -> None:
        if self.sessions.pop(viewer.id, None) is None:
            return
        self.sink.metrics.closed(reason)
        viewer.track.stop()
        task = viewer.watchdog
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(viewer.pc.close(), 5.0)

    # -- HTTP -------------------------------------------------------------------------

    @web.middleware
    async def _cors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            response: web.StreamResponse = await handler(request)
        except web.HTTPException as exc:
            self._cors_headers(exc.headers)
            raise
        self._cors_headers(response.headers)
        return response

    def _cors_headers(self, headers: Any) -> None:
        headers["Access-Control-Allow-Origin"] = self.attributes.allow_origin
        headers["Access-Control-Expose-Headers"] = "Location, Link, ETag, Accept-Post"
        if self.attributes.allow_origin != "*":
            headers["Vary"] = "Origin"

    async def _options(self, request: web.Request) -> web.Response:
        allow = _ALLOW_SESSION if "session" in request.match_info else _ALLOW_COLLECTION
        response = web.Response(status=204)
        response.headers["Allow"] = allow
        response.headers["Access-Control-Allow-Methods"] = allow
        response.headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization, If-Match"
        response.headers["Access-Control-Max-Age"] = "600"
        if "session" not in request.match_info:
            response.headers["Accept-Post"] = "application/sdp"
            for link in self._links:
                response.headers.add("Link", link)
        return response

    async def _offer(self, request: web.Request) -> web.Response:
        metrics = self.sink.metrics
        if request.content_type != "application/sdp":
            metrics.bad_offer.inc()
            return _text(415, "the offer must be sent as Content-Type: application/sdp")
        try:
            offer = (await request.read()).decode()
        except UnicodeDecodeError:
            metrics.bad_offer.inc()
            return _text(400, "malformed SDP offer: not UTF-8 text")
        if self._closing:
            return _text(503, "shutting down")
        if self.viewers >= self.attributes.max_viewers:
            metrics.full.inc()
            response = _text(503, f"too many viewers (maxViewers={self.attributes.max_viewers})")
            response.headers["Retry-After"] = "5"
            return response
        self._pending += 1
        try:
            viewer, answer = await self._negotiate(offer, request.remote or "?")
        except BadOffer as exc:
            metrics.bad_offer.inc()
            self.sink.log.info("webrtc sink: offer from %s refused: %s", request.remote, exc)
            return _text(400, str(exc))
        finally:
            self._pending -= 1
        if self.closing:
            await viewer.pc.close()
            return _text(503, "shutting down")
        self.sessions[viewer.id] = viewer
        viewer.watchdog = asyncio.create_task(self._watch(viewer))
        metrics.created.inc()
        self.sink.log.info("webrtc sink: viewer %s (%s) joined", viewer.id, viewer.remote)
        location = f"{self.attributes.path.rstrip('/')}/whep/{viewer.id}"
        response = web.Response(
            status=201,
            body=answer.encode(),
            content_type="application/sdp",
            headers={"Location": location},
        )
        for link in self._links:
            response.headers.add("Link", link)
        return response

    async def _delete(self, request: web.Request) -> web.Response:
        viewer = self.sessions.get(request.match_info["session"])
        if viewer is None:
            return _text(404, "no such session")
        await self._close(viewer, "deleted")
        self.sink.log.info("webrtc sink: viewer %s (%s) left", viewer.id, viewer.remote)
        return web.Response(status=200)

    async def _patch(self, request: web.Request) -> web.Response:
        response = _text(405, "trickle ICE and ICE restarts are not supported: send a new offer")
        response.headers["Allow"] = _ALLOW_SESSION
        return response

    async def _page(self, request: web.Request) -> web.Response:
        return web.Response(
            body=viewer_page(f"{self.sink.spec.trigger}: live"),
            content_type="text/html",
            charset="utf-8",
            headers={"Cache-Control": "no-store"},
        )

    async def _to_page(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(f"{self.attributes.path.rstrip('/')}/")

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.sink.stats(), headers={"Cache-Control": "no-store"})


def _text(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text + "\n")


def _link(server: Any) -> str:
    """A ``Link`` header announcing one ICE server (RFC 9725, section 4.6)."""
    parts = [f'<{server.urls[0]}>; rel="ice-server"']
    if server.username is not None:
        parts.append(f'username="{server.username}"')
    if server.credential is not None:
        parts.append(f'credential="{server.credential}"; credential-type="password"')
    return "; ".join(parts)
