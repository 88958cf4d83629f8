"""The latest encoded frame, and each viewer's track handing it to aiortc.

The sink publishes every encoded frame to one :class:`FrameHub`: it keeps only the newest
one. Each viewer's :class:`ViewerTrack` waits for a frame newer than the one it last
handed out, so a viewer that falls behind skips frames, never queues them, and never
holds up the others or the encoder. A skipped frame breaks the chain of predicted frames,
so a viewer that missed one (or has just joined) waits for a key frame, asking the sink
for one, and counts every frame it did not send.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from dh_serverless.sinks.webrtc.encoder import EncodedFrame

__all__ = ("FrameHub", "ViewerTrack")


class FrameHub:
    """The newest :class:`EncodedFrame` and a future resolved when a newer one comes."""

    def __init__(self) -> None:
        self.latest: EncodedFrame | None = None
        self.closed = False
        self._next: asyncio.Future[None] | None = None

    @property
    def seq(self) -> int:
        """The number of the newest frame (0 before the first)."""
        return 0 if self.latest is None else self.latest.seq

    def publish(self, frame: EncodedFrame) -> None:
        """Make ``frame`` the newest and wake the viewers waiting for it."""
        self.latest = frame
        waiter, self._next = self._next, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def newer_than(self, seq: int) -> EncodedFrame | None:
        """The newest frame once its number is above ``seq``; ``None`` once closed."""
        while not self.closed:
            latest = self.latest
            if latest is not None and latest.seq > seq:
                return latest
            if self._next is None:
                self._next = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._next)
        return None

    def close(self) -> None:
        """Wake every viewer for good."""
        self.closed = True
        waiter, self._next = self._next, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class ViewerTrack(MediaStreamTrack):
    """One viewer's video track: hands aiortc the shared packets (``Encoder.pack`` path).

    :param hub: where the encoded frames come from.
    :param want_keyframe: asks the sink to make a coming frame a key frame.
    :param on_frame: called with each frame handed out (sent) and with the number of
        frames skipped for this viewer.
    """

    kind = "video"

    def __init__(
        self,
        hub: FrameHub,
        want_keyframe: Callable[[], None],
        on_frame: Callable[[EncodedFrame | None, int], None],
    ) -> None:
        super().__init__()
        self._hub = hub
        self._want_keyframe = want_keyframe
        self._on_frame = on_frame
        self._last = hub.seq
        self._need_key = True
        self.sent = 0
        self.skipped = 0
        #: the frame handed out last (its capture time gives this viewer's latency)
        self.current: EncodedFrame | None = None
        want_keyframe()

    async def recv(self) -> Any:
        """The next frame's packet this viewer can decode; waits for one."""
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            frame = await self._hub.newer_than(self._last)
            if frame is None:
                self.stop()
                raise MediaStreamError
            missed = frame.seq - self._last - 1
            self._last = frame.seq
            if missed > 0:
                self._need_key = True
            if self._need_key and not frame.keyframe:
                self._skip(missed + 1)
                self._want_keyframe()
                continue
            self._need_key = False
            if missed > 0:
                self._skip(missed)
            self.sent += 1
            self.current = frame
            self._on_frame(frame, 0)
            return frame.packet

    def _skip(self, count: int) -> None:
        self.skipped += count
        self._on_frame(None, count)

    def request_keyframe(self) -> None:
        """The viewer lost a picture (RTCP PLI or FIR): start again from a key frame."""
        self._want_keyframe()
