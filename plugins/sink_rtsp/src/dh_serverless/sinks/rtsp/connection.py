"""One client's RTSP connection: reads requests in order and answers each one."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import time
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit

from dh_serverless.sinks.rtsp.request import (
    BadRequest,
    Interleaved,
    Request,
    RequestReader,
    Response,
)
from dh_serverless.sinks.rtsp.sdp import TRACK
from dh_serverless.sinks.rtsp.session import (
    TransportChoice,
    Viewer,
    bind_udp_pair,
    choose_transport,
)

if TYPE_CHECKING:
    from dh_serverless.sinks.rtsp.server import RtspServer

__all__ = ("PUBLIC", "Connection")

#: the methods a client may use (``OPTIONS`` answers with them).
PUBLIC = "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER"
_RECORDING = frozenset({"ANNOUNCE", "RECORD", "REDIRECT"})
_MAX_PENDING = 32
_KERNEL_SEND_BUFFER = 256 * 1024


class Connection(asyncio.Protocol):
    """An ``asyncio.Protocol`` per RTSP client; requests are answered one at a time."""

    def __init__(self, server: RtspServer) -> None:
        self.server = server
        self.reader = RequestReader()
        self.transport: asyncio.Transport | None = None
        self.viewers: dict[str, Viewer] = {}
        self.peer = ""
        self.local = ""
        self.last_seen = time.monotonic()
        self._pending: asyncio.Queue[Request | BadRequest] = asyncio.Queue(_MAX_PENDING)
        self._task: asyncio.Task[None] | None = None

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Remember the peer and start answering."""
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        peer = transport.get_extra_info("peername") or ("", 0)
        local = transport.get_extra_info("sockname") or ("", 0)
        self.peer, self.local = str(peer[0]), str(local[0])
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.connections.add(self)
        self._task = asyncio.get_running_loop().create_task(self._answer())

    def data_received(self, data: bytes) -> None:
        """Parse what arrived; queue requests, treat ``$`` frames as signs of life."""
        self.last_seen = time.monotonic()
        try:
            items = self.reader.feed(data)
        except BadRequest as exc:
            self._queue(exc)
            if self.transport is not None:
                self.transport.pause_reading()
            return
        for item in items:
            if isinstance(item, Interleaved):
                for viewer in self.viewers.values():
                    viewer.touch()
            else:
                self._queue(item)

    def connection_lost(self, exc: Exception | None) -> None:
        """End this connection's sessions."""
        self.server.connections.discard(self)
        for viewer in list(self.viewers.values()):
            self.server.end(viewer, "connection closed")
        if self._task is not None:
            self._task.cancel()

    # -- answering ----------------------------------------------------------------------

    def _queue(self, item: Request | BadRequest) -> None:
        try:
            self._pending.put_nowait(item)
        except asyncio.QueueFull:
            self.close()

    def close(self) -> None:
        """Close the connection (its sessions end in ``connection_lost``)."""
        if self.transport is not None:
            self.transport.close()

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    async def _answer(self) -> None:
        while True:
            item = await self._pending.get()
            if isinstance(item, BadRequest):
                self.server.log.info("rtsp: %s from %s: %s", item.status, self.peer, item)
                self._write(Response(item.status).encode(item.cseq))
                self.close()
                return
            self.server.log.debug("rtsp: %s %s from %s", item.method, item.uri, self.peer)
            try:
                response = await self._handle(item)
            except Exception:  # one bad request must not end the server
                self.server.log.exception("rtsp: %s %s failed", item.method, item.uri)
                response = Response(500)
            self._write(response.encode(item.cseq))
            if response.after is not None:
                response.after()

    async def _handle(self, request: Request) -> Response:
        method = request.method
        server = self.server
        auth = server.auth
        if (
            auth is not None
            and method != "OPTIONS"
            and not auth.check(method, request.headers.get("authorization"))
        ):
            return Response(401, [("WWW-Authenticate", auth.challenge())])
        if method == "OPTIONS":
            return Response(200, [("Public", PUBLIC)])
        if method in _RECORDING:
            return Response(405, [("Allow", PUBLIC)])
        handler = getattr(self, "_on_" + method.lower(), None) if method.isupper() else None
        if handler is None:
            return Response(501, [("Public", PUBLIC)])
        resource = self._resource(request.uri)
        if resource is None and request.uri == "*" and method.endswith("_PARAMETER"):
            resource = "stream"  # keep-alives may name no resource
        if resource is None:
            return Response(404)
        response: Response = await handler(request, resource)
        return response

    def _resource(self, uri: str) -> str | None:
        """``stream`` or ``track`` for the configured stream's URLs, else None."""
        try:
            path = uri if uri.startswith("/") else urlsplit(uri).path
        except ValueError:  # e.g. an unbalanced IPv6 bracket
            return None
        path = path.split("?", 1)[0].rstrip("/")
        base = self.server.path.rstrip("/")
        if path == base:
            return "stream"
        if path == f"{base}/{TRACK}":
            return "track"
        return None

    def _session(self, request: Request) -> tuple[Viewer | None, Response | None]:
        header = request.headers.get("session")
        if header is None:
            return None, Response(455)
        viewer = self.server.sessions.get(header.split(";", 1)[0].strip())
        if viewer is None:
            return None, Response(454)
        viewer.touch()
        return viewer, None

    def _session_header(self, viewer: Viewer) -> tuple[str, str]:
        return ("Session", f"{viewer.id};timeout={self.server.session_timeout}")

    async def _on_describe(self, request: Request, resource: str) -> Response:
        if resource != "stream":
            return Response(404)
        sdp = await self.server.source.sdp(self.local or "127.0.0.1")
        if sdp is None:
            return Response(503, [("Retry-After", "1")])
        base = request.uri.split("?", 1)[0].rstrip("/") + "/"
        headers = [("Content-Type", "application/sdp"), ("Content-Base", base)]
        return Response(200, headers, sdp.encode("utf-8"))

    async def _on_setup(self, request: Request, resource: str) -> Response:
        server = self.server
        viewer = None
        if "session" in request.headers:
            viewer, error = self._session(request)
            if error is not None:
                return error
            assert viewer is not None
            if viewer.playing:
                return Response(455)
        used = {c for v in self.viewers.values() for c in v.choice.channels}
        free = next(c for c in range(0, 256, 2) if c not in used and c + 1 not in used)
        choice = choose_transport(request.headers.get("transport", ""), free)
        if choice is None:
            return Response(461)
        if viewer is None:
            if len(server.sessions) + server.setting_up >= server.max_viewers:
                return Response(503, [("Retry-After", "5")])
            server.setting_up += 1  # held across the awaits below, until add()
            try:
                return await self._set_up(request, None, choice)
            finally:
                server.setting_up -= 1
        return await self._set_up(request, viewer, choice)

    async def _set_up(
        self, request: Request, viewer: Viewer | None, choice: TransportChoice
    ) -> Response:
        server = self.server
        session_id = viewer.id if viewer is not None else secrets.token_hex(8)
        if viewer is not None:
            server.end(viewer, "set up again")
        if choice.tcp:
            self._limit_kernel_buffer()
            new = Viewer(session_id, self, choice, tcp=self.transport, peer=self.peer)
            transport = f"RTP/AVP/TCP;unicast;interleaved={choice.channels[0]}-{choice.channels[1]}"
        else:
            holder: list[Viewer] = []
            try:
                pair = await bind_udp_pair(self.local or "0.0.0.0", lambda: holder[0].touch())
            except OSError as exc:  # no IPv4 UDP here (an IPv6 client): TCP still works
                server.log.warning("rtsp: no UDP ports for %s: %s", self.peer, exc)
                return Response(461)
            new = Viewer(session_id, self, choice, udp=pair, peer=self.peer)
            holder.append(new)
            a, b = choice.client_ports
            transport = (
                f"RTP/AVP;unicast;client_port={a}-{b};"
                f"server_port={pair.ports[0]}-{pair.ports[1]};ssrc={server.source.ssrc:08X}"
            )
        server.add(new)
        self.viewers[session_id] = new
        return Response(200, [("Transport", transport), self._session_header(new)])

    def _limit_kernel_buffer(self) -> None:
        """Keep the kernel's send buffer small so that a lagging viewer shows up in the
        transport's own buffer, where whole frames can be skipped."""
        sock = self.transport.get_extra_info("socket") if self.transport else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _KERNEL_SEND_BUFFER)

    async def _on_play(self, request: Request, resource: str) -> Response:
        viewer, error = self._session(request)
        if error is not None:
            return error
        assert viewer is not None
        seq, rtptime = self.server.source.play_info()
        base = request.uri.split("?", 1)[0].rstrip("/")
        track = base if base.endswith(TRACK) else f"{base}/{TRACK}"
        headers = [
            self._session_header(viewer),
            ("Range", "npt=0.000-"),
            ("RTP-Info", f"url={track};seq={seq};rtptime={rtptime}"),
        ]
        return Response(200, headers, after=lambda: self.server.play(viewer))

    async def _on_pause(self, request: Request, resource: str) -> Response:
        viewer, error = self._session(request)
        if error is not None:
            return error
        assert viewer is not None
        self.server.pause(viewer)
        return Response(200, [self._session_header(viewer)])

    async def _on_teardown(self, request: Request, resource: str) -> Response:
        viewer, error = self._session(request)
        if error is not None:
            return error
        assert viewer is not None
        self.server.end(viewer, "teardown")
        return Response(200)

    async def _on_get_parameter(self, request: Request, resource: str) -> Response:
        if "session" not in request.headers:
            return Response(200)
        viewer, error = self._session(request)
        if error is not None:
            return error
        assert viewer is not None
        return Response(200, [self._session_header(viewer)])

    _on_set_parameter = _on_get_parameter
