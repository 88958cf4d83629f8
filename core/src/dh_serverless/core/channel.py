"""Length-prefixed messages on the event loop, in ``multiprocessing.Connection``'s framing.

The parent's end of a process worker's socket pair; the child keeps a plain blocking
``Connection``. Written by hand because asyncio's streams copy a large message several
times on its way through; here each message is read straight into a buffer of its size.
"""

from __future__ import annotations

import asyncio
import struct
from collections import deque

__all__ = ("Channel",)

_LEN = struct.Struct("!i")
_LEN64 = struct.Struct("!Q")


class Channel(asyncio.BufferedProtocol):
    """One end of a socket pair carrying whole messages (``send``, ``receive``, ``drain``)."""

    def __init__(self) -> None:
        self._head = bytearray(12)
        self._buffer = self._head
        self._filled = 0
        self._wanted = 4
        self._ready: deque[bytes] = deque()
        self._waiters: deque[asyncio.Future[bytes]] = deque()
        self._writable: asyncio.Future[None] | None = None
        self._closed = False
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def get_buffer(self, sizehint: int) -> memoryview:
        return memoryview(self._buffer)[self._filled : self._wanted]

    def buffer_updated(self, nbytes: int) -> None:
        self._filled += nbytes
        if self._filled < self._wanted:
            return
        if self._buffer is not self._head:
            self._deliver(bytes(self._buffer))
            return
        (size,) = _LEN.unpack_from(self._head)
        if size == -1:
            if self._wanted == 4:
                self._wanted = 12
                return
            (size,) = _LEN64.unpack_from(self._head, 4)
        if size == 0:
            self._deliver(b"")
        else:
            self._buffer, self._filled, self._wanted = bytearray(size), 0, size

    def _deliver(self, message: bytes) -> None:
        self._buffer, self._filled, self._wanted = self._head, 0, 4
        waiters = self._waiters
        while waiters:  # each message goes to the oldest waiter still waiting
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(message)
                return
        self._ready.append(message)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        for future in (*self._waiters, self._writable):
            if future is not None and not future.done():
                future.set_exception(EOFError("worker process closed its end"))
        self._waiters.clear()

    def pause_writing(self) -> None:
        self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    def send(self, *messages: bytes) -> None:
        """Frame and write each message (no copy while the socket takes them)."""
        if self._closed or self._transport is None:
            raise EOFError("worker process closed its end")
        for data in messages:
            size = len(data)
            head = _LEN.pack(size) if size <= 0x7FFFFFFF else _LEN.pack(-1) + _LEN64.pack(size)
            self._transport.write(head)
            self._transport.write(data)

    async def drain(self) -> None:
        """Wait until the socket took what was written (flow control)."""
        if self._writable is not None:
            await self._writable

    @property
    def closed(self) -> bool:
        """True once the other end is gone (the process exited or was killed)."""
        return self._closed

    async def receive(self) -> bytes:
        """The next whole message; ``EOFError`` once the process is gone.

        Concurrent callers are served in the order they called, one message each.
        """
        if self._ready:
            return self._ready.popleft()
        if self._closed:
            raise EOFError("worker process closed its end")
        waiter: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        return await waiter

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
