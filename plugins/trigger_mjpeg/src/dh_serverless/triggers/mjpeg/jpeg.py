"""Where a JPEG ends, found from its structure rather than by searching for ``FF D9``.

An EXIF segment may hold a whole thumbnail JPEG, end marker included, so the first
``FF D9`` is not always the end. The header segments are walked by their length fields up
to the start of scan (SOS); in the entropy-coded data that follows, every ``FF`` data byte
is stuffed as ``FF 00``, so the first ``FF D9`` there is the real end of the image.
"""

from __future__ import annotations

__all__ = ("EOI", "SOI", "CorruptJpeg", "CutShort", "scan_start", "trimmed_end")

SOI = b"\xff\xd8"  #: start of image
EOI = b"\xff\xd9"  #: end of image
_SOS = 0xDA
_TRIM = frozenset(b"\r\n\x00")


class CorruptJpeg(Exception):
    """The bytes after an SOI do not follow the JPEG segment structure."""


class CutShort(CorruptJpeg):
    """The image ends early: the next image's SOI is at offset ``at`` of the buffer."""

    def __init__(self, at: int) -> None:
        super().__init__(at)
        self.at = at


def scan_start(buf: bytes | bytearray, limit: int) -> tuple[int, bool] | None:
    """Walk the segments of the JPEG at the start of ``buf`` (which begins with SOI).

    :param limit: look no further than this offset (the frame-size cap).
    :return: ``(offset, False)`` where the entropy-coded data starts (search EOI from
        there), ``(end, True)`` for an image that ended before any scan, or ``None`` when
        more bytes are needed.
    :raises CorruptJpeg: on a byte sequence no JPEG has.
    """
    size = len(buf)
    limit = min(size, limit)
    i = 2
    while True:
        if i + 1 >= limit:
            return None
        if buf[i] != 0xFF:
            raise CorruptJpeg
        while buf[i + 1] == 0xFF:  # fill bytes
            i += 1
            if i + 1 >= limit:
                return None
        marker = buf[i + 1]
        if marker == 0xD9:
            return i + 2, True
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # RSTn, TEM: no length
            i += 2
            continue
        if marker in (0x00, 0xD8):
            raise CorruptJpeg
        if i + 3 >= limit:
            return None
        if buf[i + 2 : i + 4] == SOI:  # cut right after the marker: the next image follows
            raise CutShort(i + 2)
        length = (buf[i + 2] << 8) | buf[i + 3]
        if length < 2:
            raise CorruptJpeg
        stop = i + 2 + length
        if stop > size:
            return None
        # An SOI inside a segment is the next image's start (the image was cut inside the
        # segment), unless an APPn segment holds a whole thumbnail (its EOI follows).
        # From i + 2: the length field itself may hold the next image's first bytes; to
        # stop + 1: an SOI across the segment's end too.
        soi = buf.find(SOI, i + 2, stop + 1)
        if soi >= 0 and (not 0xE0 <= marker <= 0xEF or buf.find(EOI, soi, stop) < 0):
            raise CutShort(soi)
        i = stop
        if marker == _SOS:
            return i, False


def trimmed_end(buf: bytes | bytearray, start: int, stop: int) -> int:
    """``stop`` moved back over trailing CR, LF and NUL bytes, not before ``start + 2``."""
    end = stop
    while end > start + 2 and buf[end - 1] in _TRIM:
        end -= 1
    return end
