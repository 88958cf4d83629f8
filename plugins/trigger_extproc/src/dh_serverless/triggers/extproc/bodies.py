"""Bodies: gathering STREAMED chunks under a limit, and decompressing for the handler.

Envoy passes compressed bodies as they are (reference gotcha G8); zlib decompresses
``gzip`` and ``deflate`` with an output bound, so a small compressed body cannot expand
past ``perRequestBodyBufferBytes``.
"""

from __future__ import annotations

import zlib

__all__ = ("DECODABLE", "BodyBuffer", "TooLarge", "decompress")

#: ``content-encoding`` values the trigger decompresses.
DECODABLE = frozenset({b"gzip", b"x-gzip", b"deflate"})


class TooLarge(Exception):
    """The body (or its decompressed form) is larger than the limit."""


class BodyBuffer:
    """The chunks of one body so far, refusing to grow past ``limit`` bytes."""

    __slots__ = ("chunks", "limit", "size")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.chunks: list[bytes] = []
        self.size = 0

    def add(self, chunk: bytes) -> None:
        """Append ``chunk``; raise :class:`TooLarge` when the total passes the limit."""
        self.size += len(chunk)
        if self.size > self.limit:
            raise TooLarge(self.size)
        if chunk:
            self.chunks.append(chunk)

    def take(self) -> bytes:
        """The whole body, and an empty buffer."""
        chunks = self.chunks
        self.chunks = []
        self.size = 0
        if len(chunks) == 1:
            return chunks[0]
        return b"".join(chunks)


def decompress(encoding: bytes, data: bytes, limit: int) -> bytes | None:
    """``data`` decoded per ``encoding`` (``gzip``/``deflate``), or None when it is not
    valid. Raises :class:`TooLarge` when the result would pass ``limit`` bytes."""
    if not data:
        return data
    # RFC 9110's deflate is zlib-wrapped; some senders use raw deflate.
    attempts = (
        (zlib.MAX_WBITS, -zlib.MAX_WBITS) if encoding == b"deflate" else (16 + zlib.MAX_WBITS,)
    )
    for wbits in attempts:
        inflater = zlib.decompressobj(wbits)
        try:
            out = inflater.decompress(data, limit + 1)
        except zlib.error:
            continue
        if len(out) > limit or inflater.unconsumed_tail:
            raise TooLarge(len(out))
        if not inflater.eof:
            continue  # truncated stream
        return out
    return None
