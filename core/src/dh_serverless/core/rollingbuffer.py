"""A bounded rolling byte buffer: the window of recent stream bytes a handler is handed.

The original's websocket stream mode and its rtsp audio mode keep the same window: bytes are
appended as they arrive, the buffer never holds more than ``max_bytes`` (on overflow
``trim_bytes`` are dropped from the front, repeatedly until it fits), and the trigger hands
the handler the whole window every interval once at least ``chunk_bytes`` of new bytes
arrived since the last hand-out.

Difference to the original: it moved bytes into the window in whole ``chunk_bytes`` pieces,
holding back a partial chunk; here every appended byte is in the window at once, so a
snapshot is never up to one chunk behind the stream.

Byte order is kept exactly, so a stream of fixed-size samples (16-bit PCM: 2 bytes a sample
and channel) stays aligned as long as ``trim_bytes`` is a multiple of the sample size.

Thread-safe: a decoder thread may ``append`` while the event loop checks ``ready`` and
calls ``take``.
"""

from __future__ import annotations

import threading

__all__ = ("RollingBuffer",)


class RollingBuffer:
    """The newest at most ``max_bytes`` of a byte stream, handed out in snapshots.

    :param chunk_bytes: new bytes needed since the last ``take`` before ``ready`` is true.
    :param max_bytes: the most bytes held.
    :param trim_bytes: bytes dropped from the front each time the buffer exceeds
        ``max_bytes``.
    :raises ValueError: a size is not a positive integer, or ``chunk_bytes`` or
        ``trim_bytes`` is larger than ``max_bytes``.
    """

    __slots__ = (
        "_buffer",
        "_dropped",
        "_lock",
        "_new",
        "_trimmed",
        "chunk_bytes",
        "max_bytes",
        "trim_bytes",
    )

    def __init__(self, chunk_bytes: int, max_bytes: int, trim_bytes: int) -> None:
        for name, value in (
            ("chunk_bytes", chunk_bytes),
            ("max_bytes", max_bytes),
            ("trim_bytes", trim_bytes),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name, value in (("chunk_bytes", chunk_bytes), ("trim_bytes", trim_bytes)):
            if value > max_bytes:
                raise ValueError(
                    f"{name} ({value}) must not be larger than max_bytes ({max_bytes})"
                )
        self.chunk_bytes = chunk_bytes
        self.max_bytes = max_bytes
        self.trim_bytes = trim_bytes
        self._buffer = bytearray()
        self._new = 0
        self._trimmed = 0
        self._dropped = 0
        self._lock = threading.Lock()

    def append(self, data: bytes | bytearray | memoryview) -> None:
        """Add ``data`` at the end, trimming the front while over ``max_bytes``."""
        size = len(data) if not isinstance(data, memoryview) else data.nbytes
        if not size:
            return
        with self._lock:
            buffer = self._buffer
            buffer += data
            self._new += size
            excess = len(buffer) - self.max_bytes
            if excess > 0:
                # Whole trim_bytes steps, as the original; one del keeps it one memmove.
                steps = -(-excess // self.trim_bytes)
                cut = min(steps * self.trim_bytes, len(buffer))
                # Bytes never handed out are those beyond the last take's window end.
                unseen_start = len(buffer) - self._new
                if cut > unseen_start:
                    lost = cut - max(unseen_start, 0)
                    self._dropped += lost
                    self._new -= lost
                del buffer[:cut]
                self._trimmed += cut

    @property
    def ready(self) -> bool:
        """True when at least ``chunk_bytes`` arrived since the last ``take``."""
        return self._new >= self.chunk_bytes

    def take(self) -> bytes:
        """A copy of the whole window; the new-byte count starts again from zero."""
        with self._lock:
            self._new = 0
            return bytes(self._buffer)

    def clear(self) -> None:
        """Forget the window (a reconnect to a different stream); counters are kept."""
        with self._lock:
            self._buffer.clear()
            self._new = 0

    @property
    def size(self) -> int:
        """Bytes held now (at most ``max_bytes``)."""
        return len(self._buffer)

    @property
    def new_bytes(self) -> int:
        """Bytes appended since the last ``take`` that are still held."""
        return self._new

    @property
    def trimmed_bytes(self) -> int:
        """Every byte dropped from the front so far."""
        return self._trimmed

    @property
    def dropped_bytes(self) -> int:
        """Bytes dropped from the front before any ``take`` had handed them out: data lost
        because the handler was not given it in time (a trigger exports this in /metrics)."""
        return self._dropped
