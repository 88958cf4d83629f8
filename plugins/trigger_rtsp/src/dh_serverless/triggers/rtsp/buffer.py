"""The rolling PCM buffer of the audio mode, as the original keeps it.

Decoded audio arrives in pieces of any size. Whole chunks of ``chunk_bytes`` move into the
buffer (the remainder waits for the next piece); when the buffer grows past ``max_bytes``,
``trim_bytes`` are dropped from its front. An event may be taken once at least
``chunk_bytes`` of new audio arrived since the last one; it carries the whole buffer (the
last ``max_bytes`` or so of audio), so a speech model sees context, not a fragment.

Thread-safe: the reader thread pushes, the event loop takes.
"""

from __future__ import annotations

import threading

__all__ = ("AudioBuffer",)


class AudioBuffer:
    """A bounded rolling buffer of PCM bytes.

    :param chunk_bytes: the unit audio moves in, and the new audio an event needs.
    :param max_bytes: the cap; past it ``trim_bytes`` go from the front.
    :param trim_bytes: how much one overflow drops (at least the overflow itself).
    """

    __slots__ = (
        "_buffer",
        "_lock",
        "_pending",
        "chunk_bytes",
        "max_bytes",
        "new_bytes",
        "received_bytes",
        "trim_bytes",
        "trimmed_bytes",
    )

    def __init__(self, chunk_bytes: int, max_bytes: int, trim_bytes: int) -> None:
        if chunk_bytes <= 0 or max_bytes < chunk_bytes or trim_bytes <= 0:
            raise ValueError("need 0 < chunk_bytes <= max_bytes and trim_bytes > 0")
        self.chunk_bytes = chunk_bytes
        self.max_bytes = max_bytes
        self.trim_bytes = trim_bytes
        self._buffer = bytearray()
        self._pending = bytearray()
        self._lock = threading.Lock()
        #: bytes moved into the buffer since the last :meth:`take`
        self.new_bytes = 0
        #: every byte pushed, and every byte trimmed away, since the start
        self.received_bytes = 0
        self.trimmed_bytes = 0

    def __len__(self) -> int:
        return len(self._buffer)

    def push(self, data: bytes | bytearray | memoryview) -> None:
        """Append decoded PCM; whole chunks move into the buffer."""
        with self._lock:
            pending = self._pending
            pending += data
            self.received_bytes += len(data)
            chunk = self.chunk_bytes
            whole = len(pending) - len(pending) % chunk
            if not whole:
                return
            buffer = self._buffer
            view = memoryview(pending)
            # Chunk by chunk, as the original: a big piece trims as often as its chunks
            # would one by one (trimming at least the excess keeps the cap even when
            # trim_bytes is below chunk_bytes, where the original grows without bound).
            for start in range(0, whole, chunk):
                buffer += view[start : start + chunk]
                excess = len(buffer) - self.max_bytes
                if excess > 0:
                    cut = min(max(self.trim_bytes, excess), len(buffer))
                    del buffer[:cut]
                    self.trimmed_bytes += cut
            view.release()
            del pending[:whole]
            self.new_bytes += whole

    def ready(self) -> bool:
        """Whether at least ``chunk_bytes`` of new audio arrived since the last take."""
        return self.new_bytes >= self.chunk_bytes

    def take(self) -> bytes | None:
        """A copy of the whole buffer if :meth:`ready`, else ``None``; resets the count."""
        with self._lock:
            if self.new_bytes < self.chunk_bytes:
                return None
            self.new_bytes = 0
            return bytes(self._buffer)

    def clear(self) -> None:
        """Forget the audio (a new connection may bring a different stream)."""
        with self._lock:
            self._buffer.clear()
            self._pending.clear()
            self.new_bytes = 0
