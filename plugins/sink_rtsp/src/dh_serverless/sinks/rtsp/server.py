"""The RTSP server of one sink: listener, sessions, fan-out of packets, RTCP, expiry."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Protocol

from dh_serverless.sinks.rtsp.auth import Authenticator
from dh_serverless.sinks.rtsp.config import RtspAttributes
from dh_serverless.sinks.rtsp.connection import Connection
from dh_serverless.sinks.rtsp.metrics import SinkMetrics
from dh_serverless.sinks.rtsp.rtp import sender_report
from dh_serverless.sinks.rtsp.session import Viewer

__all__ = ("RtspServer", "Source")

_REPORT_EVERY = 5.0  #: seconds between RTCP sender reports


class Source(Protocol):
    """What the server asks of the sink that feeds it."""

    ssrc: int

    async def sdp(self, address: str) -> str | None:
        """The SDP of the stream, or None when no frame arrived in time (503)."""

    def play_info(self) -> tuple[int, int]:
        """The next RTP sequence number and timestamp (``RTP-Info``)."""

    def request_keyframe(self) -> None:
        """Make the next encoded frame a keyframe."""

    def report(self) -> tuple[int, float]:
        """The RTP timestamp of "now" and the matching wall-clock time (RTCP SR)."""


class RtspServer:
    """Serves one stream at ``attributes.path``; the sink hands it packets to fan out."""

    def __init__(
        self,
        attributes: RtspAttributes,
        source: Source,
        log: logging.Logger,
        metrics: SinkMetrics,
    ) -> None:
        self.attributes = attributes
        self.source = source
        self.log = log
        self.metrics = metrics
        self.path = attributes.path
        self.session_timeout = attributes.session_timeout
        self.max_viewers = attributes.max_viewers
        self.max_lag = attributes.max_lag_bytes
        auth = attributes.auth
        self.auth = (
            Authenticator(auth.scheme, auth.username, auth.password, auth.realm) if auth else None
        )
        self.sessions: dict[str, Viewer] = {}
        #: new sessions being set up (a SETUP between its check and ``add``): they count
        #: against ``max_viewers`` too, or concurrent SETUPs would all pass the check
        self.setting_up = 0
        self.playing: list[Viewer] = []
        self.connections: set[Connection] = set()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._recovered = 0.0

    async def start(self) -> None:
        """Listen on ``host:port`` and start the housekeeping tasks."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: Connection(self), self.attributes.host, self.attributes.port
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._tasks = [loop.create_task(self._expire()), loop.create_task(self._reports())]

    async def stop(self) -> None:
        """Stop listening, end every session and close every connection."""
        if self._server is not None:
            self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for viewer in list(self.sessions.values()):
            self.end(viewer, "sink stopped")
        for connection in list(self.connections):
            connection.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    # -- sessions ------------------------------------------------------------------------

    def add(self, viewer: Viewer) -> None:
        """Register a session set up by a connection."""
        self.sessions[viewer.id] = viewer
        viewer.dropped_metric = self.metrics.viewer_joined(viewer.id)

    def play(self, viewer: Viewer) -> None:
        """Start sending to ``viewer`` from the next keyframe, which is requested now."""
        if viewer.closed or viewer.playing:
            return
        viewer.playing = True
        viewer.waiting = True
        viewer.started = time.monotonic()
        self.playing.append(viewer)
        self.source.request_keyframe()
        self.log.info(
            "rtsp: viewer %s (%s, %s) plays; %d watching",
            viewer.id,
            viewer.peer,
            "tcp" if viewer.tcp else "udp",
            len(self.playing),
        )

    def pause(self, viewer: Viewer) -> None:
        """Stop sending to ``viewer`` until it plays again."""
        viewer.playing = False
        with contextlib.suppress(ValueError):
            self.playing.remove(viewer)

    def end(self, viewer: Viewer, why: str) -> None:
        """End a session: stop sending, release its sockets, log what it received."""
        if viewer.closed:
            return
        was_playing = viewer.playing
        self.pause(viewer)
        viewer.close()
        self.sessions.pop(viewer.id, None)
        self.metrics.viewer_left(viewer.id)
        viewer.owner.viewers.pop(viewer.id, None)
        if was_playing or viewer.packets:
            self.log.info(
                "rtsp: viewer %s left (%s) after %.1f s: %d packets sent, %d dropped",
                viewer.id,
                why,
                time.monotonic() - viewer.started,
                viewer.packets,
                viewer.dropped,
            )

    # -- media ---------------------------------------------------------------------------

    def broadcast(self, packets: list[bytes], keyframe: bool) -> None:
        """Send one frame's packets to every playing viewer.

        A viewer waiting for a keyframe skips other frames; a TCP viewer with more than
        ``max_lag`` bytes unsent has the frame dropped and waits for the next keyframe,
        which is requested once its backlog has drained to half.
        """
        if not self.playing:
            return
        blobs: dict[int, bytes] = {}
        wire = sum(len(p) for p in packets)
        payload = wire - 12 * len(packets)
        metrics = self.metrics
        for viewer in self.playing:
            backlog = viewer.backlog()
            if backlog > self.max_lag:
                if not viewer.dropped:
                    self.log.warning(
                        "rtsp: viewer %s lags %d bytes behind: skipping to the next keyframe",
                        viewer.id,
                        backlog,
                    )
                viewer.lagging = viewer.waiting = True
            if viewer.waiting and not keyframe:
                if viewer.lagging:
                    viewer.drop(len(packets))
                    if backlog <= self.max_lag // 2:
                        self._recover()
                continue
            if backlog > self.max_lag:
                viewer.drop(len(packets))
                continue
            viewer.waiting = viewer.lagging = False
            try:
                viewer.send(packets, blobs, payload)
            except OSError as exc:
                self.log.info("rtsp: viewer %s unreachable: %s", viewer.id, exc)
                continue
            metrics.sent_bytes.value += wire

    def _recover(self) -> None:
        """Ask for a keyframe for drained viewers, at most once a second."""
        now = time.monotonic()
        if now - self._recovered >= 1.0:
            self._recovered = now
            self.source.request_keyframe()

    async def _reports(self) -> None:
        while True:
            await asyncio.sleep(_REPORT_EVERY)
            if not self.playing:
                continue
            rtp_now, wall = self.source.report()
            for viewer in list(self.playing):
                if viewer.packets:
                    report = sender_report(
                        self.source.ssrc, rtp_now, viewer.packets, viewer.octets, wall
                    )
                    with contextlib.suppress(OSError):
                        viewer.send_rtcp(report)

    async def _expire(self) -> None:
        timeout = self.session_timeout
        while True:
            await asyncio.sleep(min(1.0, timeout / 4))
            now = time.monotonic()
            for viewer in list(self.sessions.values()):
                if now - viewer.last_seen > timeout:
                    self.end(viewer, f"silent for {timeout} s")
            for connection in list(self.connections):
                if not connection.viewers and now - connection.last_seen > timeout:
                    connection.close()
