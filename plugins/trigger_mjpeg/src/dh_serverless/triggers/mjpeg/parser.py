"""Split an MJPEG-over-HTTP byte stream into JPEG frames: bytes in, frames out.

Written by hand: no maintained Python library parses ``multipart/x-mixed-replace`` as
cameras really send it (a boundary learned from the body, parts without or with a wrong
``Content-Length``, a missing first delimiter, raw concatenated JPEGs, EXIF thumbnails).
The multipart readers of aiohttp and the standard library need a correct boundary and a
finite body, and none of them checks the JPEG structure.

:class:`MjpegParser` is a pure synchronous object: feed it chunks of any size, it returns
the complete frames. Its buffer never holds more than ``max_frame + max_header`` bytes
plus one chunk, and a corrupt part costs at most the frame it is in.

The strategy (see the README for the quirk matrix it covers):

* ``SEEK``: find the next delimiter (``--boundary``) or JPEG start (``FF D8``), whichever
  comes first. Without a known boundary, learn one from a ``--token`` line followed by a
  header line.
* ``HEADERS``: read the part headers (any case, LF or CRLF line ends), keep
  ``Content-Type``, ``Content-Length`` and ``X-Timestamp``.
* ``BODY``: with a sane ``Content-Length``, cut that many bytes and accept them when they
  start with SOI and end with EOI (after trimming CR, LF and NUL); otherwise scan.
* ``SCAN``: walk the JPEG segments by their length fields up to SOS, then the first
  ``FF D9`` is the end of the image (an EXIF thumbnail's EOI is skipped with its segment).
* ``SKIP``: a non-JPEG part: discard up to the next delimiter.

Well-formed parts (delimiter, header block, a ``Content-Length`` that frames a JPEG) take a
fast path first: a regular expression per part and one buffer compaction per ``feed``.
"""

from __future__ import annotations

import math
import re

__all__ = (
    "DEFAULT_MAX_FRAME",
    "DEFAULT_MAX_HEADER",
    "Frame",
    "MjpegParser",
    "ParserStats",
    "boundary_from_content_type",
)

DEFAULT_MAX_FRAME = 16 * 1024 * 1024  #: the largest frame kept, in bytes
DEFAULT_MAX_HEADER = 16 * 1024  #: the largest part-header block, in bytes

_SOI = b"\xff\xd8"
_EOI = b"\xff\xd9"
_SOS = 0xDA
_SEEK, _HEADERS, _BODY, _SCAN, _SKIP = range(5)
_LEARN = re.compile(rb"(?:^|\n)(--[!-~]{1,70})\r?\n[A-Za-z0-9-]{1,64}[ \t]*:")
_BOUNDARY = re.compile(r"""boundary\s*=\s*(?:"([^"]*)"|([^;,\s]+))""", re.IGNORECASE)
_JPEG_TYPES = frozenset({"image/jpeg", "image/jpg", "image/pjpeg"})
_LENGTH = re.compile(rb"(?im)^[ \t]*content-length[ \t]*:[ \t]*(\d{1,12})[ \t]*\r?$")
_TYPE = re.compile(rb"(?im)^[ \t]*content-type[ \t]*:[ \t]*([^;\r\n]*)")
_STAMP = re.compile(rb"(?im)^[ \t]*x-timestamp[ \t]*:[ \t]*([^\r\n]*)")
_TRIM = frozenset(b"\r\n\x00")
#: learn a boundary from the body after this many parts found by SOI alone
_LEARN_AFTER = 2


def boundary_from_content_type(content_type: str | None) -> str | None:
    """The boundary of a ``multipart/...; boundary=...`` header, unquoted, without any
    leading ``--`` (some cameras declare ``boundary=--myboundary``); ``None`` if absent."""
    if not content_type:
        return None
    match = _BOUNDARY.search(content_type)
    if match is None:
        return None
    value = (match.group(1) if match.group(1) is not None else match.group(2)).strip()
    while value.startswith("--"):
        value = value[2:]
    return value or None


class Frame:
    """One JPEG image cut from the stream.

    :param data: the JPEG bytes, from ``FF D8`` to ``FF D9`` inclusive.
    :param timestamp: the part's ``X-Timestamp`` (capture time, seconds since the epoch),
        when the sender wrote one.
    """

    __slots__ = ("data", "timestamp")

    def __init__(self, data: bytes, timestamp: float | None = None) -> None:
        self.data = data
        self.timestamp = timestamp

    def __repr__(self) -> str:
        return f"Frame({len(self.data)} bytes, timestamp={self.timestamp!r})"


class ParserStats:
    """What the parser met: frames emitted and what it threw away, by cause."""

    __slots__ = ("bad_length", "corrupt", "dropped_bytes", "frames", "non_jpeg", "oversize")

    def __init__(self) -> None:
        self.frames = 0
        #: parts whose ``Content-Length`` did not frame a JPEG (re-cut by scanning)
        self.bad_length = 0
        #: JPEGs whose structure was broken (dropped, resynchronised)
        self.corrupt = 0
        #: parts that were not JPEG images (skipped)
        self.non_jpeg = 0
        #: frames or header blocks over the size caps (dropped)
        self.oversize = 0
        #: bytes discarded outside frames (preambles, headers excluded, junk)
        self.dropped_bytes = 0


class _Corrupt(Exception):
    """The bytes after an SOI are not a JPEG."""


class MjpegParser:
    """Turns the body of an MJPEG HTTP response into :class:`Frame` objects.

    :param boundary: the boundary from the response's ``Content-Type`` (see
        :func:`boundary_from_content_type`), or ``None`` to learn it from the body.
    :param max_frame: frames larger than this are dropped (counted in ``oversize``).
    :param max_header: part-header blocks larger than this are dropped.
    """

    def __init__(
        self,
        boundary: str | None = None,
        *,
        max_frame: int = DEFAULT_MAX_FRAME,
        max_header: int = DEFAULT_MAX_HEADER,
    ) -> None:
        if max_frame < 4 or max_header < 16:
            raise ValueError("max_frame must be at least 4 bytes and max_header 16 bytes")
        self.max_frame = max_frame
        self.max_header = max_header
        b = (boundary or "").strip().strip('"').strip()
        while b.startswith("--"):
            b = b[2:]
        self.delimiter: bytes | None = b"--" + b.encode("latin-1", "replace") if b else None
        self.stats = ParserStats()
        self._buf = bytearray()
        self._state = _SEEK
        self._part_len: int | None = None
        self._part_ts: float | None = None
        self._eoi_from = 0  # where the EOI search resumes in SCAN (0 = walk again)
        self._misses = 0  # parts found by SOI while a declared delimiter was expected
        self._part_re: re.Pattern[bytes] | None = None
        self._part_delim: bytes | None = None

    @property
    def buffered(self) -> int:
        """Bytes held between calls to :meth:`feed`."""
        return len(self._buf)

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[Frame]:
        """Add ``chunk`` and return every frame it completed, in stream order."""
        buf = self._buf
        buf += chunk
        frames: list[Frame] = []
        step = self._step
        while True:
            if self._state == _SEEK and self.delimiter is not None:
                self._fast_run(frames)
            if not step(frames):
                break
        if len(buf) > self.max_frame + self.max_header:
            # Only reachable when a part neither ends nor resynchronises: start afresh.
            self.stats.oversize += 1
            self.stats.dropped_bytes += len(buf)
            buf.clear()
            self._reset(_SEEK)
        return frames

    # ------------------------------------------------------------------
    # States; each returns True when it made progress and may go on.
    # ------------------------------------------------------------------

    def _reset(self, state: int) -> None:
        self._state = state
        self._part_len = None
        self._part_ts = None
        self._eoi_from = 0

    def _drop(self, count: int) -> None:
        if count > 0:
            del self._buf[:count]
            self.stats.dropped_bytes += count

    def _step(self, frames: list[Frame]) -> bool:
        state = self._state
        if state == _SEEK:
            return self._seek(frames)
        if state == _HEADERS:
            return self._headers()
        if state == _BODY:
            return self._body(frames)
        if state == _SCAN:
            return self._scan(frames)
        return self._skip()

    def _fast_run(self, frames: list[Frame]) -> None:
        """The common case without the state machine: from the start of the buffer, every
        part with a delimiter, a complete header block and a ``Content-Length`` that frames
        a JPEG, cut in place with one buffer compaction at the end. Stops at the first
        part it cannot take whole; the states handle it."""
        delim = self.delimiter
        assert delim is not None
        part_re = self._part_re
        if part_re is None or self._part_delim != delim:
            part_re = self._part_re = re.compile(
                re.escape(delim) + rb"[^\n]{0,80}\n((?:[^\r\n][^\n]{0,1000}\n){0,32}?)\r?\n"
            )
            self._part_delim = delim
        buf = self._buf
        size = len(buf)
        pos = 0
        taken = 0
        with memoryview(buf) as view:
            while True:
                d = buf.find(delim, pos, pos + 1024)
                if d < 0 or buf.find(_SOI, pos, d) >= 0:
                    break  # an image before the delimiter: the states decide
                match = part_re.match(buf, d)
                if match is None:
                    break
                block = match.group(1)
                ctype = _TYPE.search(block)
                if ctype is not None and (
                    ctype.group(1).strip().lower().decode("latin-1") not in _JPEG_TYPES
                ):
                    break
                length = _LENGTH.search(block)
                if length is None:
                    break
                start = match.end()
                stop = start + int(length.group(1))
                if stop - start > self.max_frame or size < stop:
                    break
                end = stop
                while end > start + 2 and buf[end - 1] in _TRIM:
                    end -= 1
                if buf[start : start + 2] != _SOI or buf[end - 2 : end] != _EOI:
                    break
                if b"imestamp" in block:
                    stamp = _STAMP.search(block)
                    when = _float(stamp.group(1)) if stamp is not None else None
                else:
                    when = None
                frames.append(Frame(bytes(view[start:end]), when))
                self.stats.dropped_bytes += d - pos
                taken += 1
                pos = end
        if pos:
            del buf[:pos]
            self.stats.frames += taken
            self._misses = 0

    def _seek(self, frames: list[Frame]) -> bool:
        buf = self._buf
        delim = self.delimiter
        soi = buf.find(_SOI)
        if delim is None or (self._misses >= _LEARN_AFTER and delim not in buf):
            learned = self._learn(buf, soi)
            if learned is not None:
                delim = self.delimiter = learned
                self._misses = 0
        d = buf.find(delim) if delim is not None else -1
        if d >= 0 and (soi < 0 or d < soi):
            self._drop(d)
            del buf[: len(delim)]  # type: ignore[arg-type]
            self._misses = 0
            self._reset(_HEADERS)
            return True
        if soi >= 0:
            self._drop(soi)
            if delim is not None:
                self._misses += 1
            self._reset(_SCAN)
            return True
        keep = (len(delim) if delim is not None else 72) + 2
        self._drop(len(buf) - keep)
        return False

    @staticmethod
    def _learn(buf: bytearray, soi: int) -> bytes | None:
        match = _LEARN.search(buf, 0, soi if soi >= 0 else len(buf))
        if match is None:
            return None
        token = match.group(1)
        while token.endswith(b"--") and len(token) > 4:
            token = token[:-2]
        return bytes(token)

    def _headers(self) -> bool:
        buf = self._buf
        nl = buf.find(b"\n")  # the rest of the delimiter line (`--b--`, `--bContent-type:`)
        if nl < 0:
            return self._wait_header()
        pos = nl + 1
        content_type = None
        length: int | None = None
        stamp: float | None = None
        while True:
            if buf[pos : pos + 2] == _SOI:
                break  # a part without headers and without the blank line
            end = buf.find(b"\n", pos)
            if end < 0:
                return self._wait_header()
            line = bytes(buf[pos:end]).rstrip(b"\r")
            if not line:
                pos = end + 1
                break
            name, sep, value = line.partition(b":")
            if not sep:
                break  # not a header line: let the body scan find the image
            key = name.strip().lower()
            if key == b"content-length":
                length = _int(value)
            elif key == b"content-type":
                content_type = value.strip().split(b";")[0].strip().lower().decode("latin-1")
            elif key == b"x-timestamp":
                stamp = _float(value)
            pos = end + 1
        del buf[:pos]
        if content_type is not None and content_type not in _JPEG_TYPES:
            self.stats.non_jpeg += 1
            self._reset(_SKIP)
            return True
        self._reset(_BODY)
        self._part_len = length if length is not None and length <= self.max_frame else None
        self._part_ts = stamp
        return True

    def _wait_header(self) -> bool:
        if len(self._buf) > self.max_header:
            self.stats.oversize += 1
            self._resync()
            return True
        return False

    def _body(self, frames: list[Frame]) -> bool:
        n = self._part_len
        if n is None:
            self._state = _SCAN
            return True
        buf = self._buf
        if len(buf) < n:
            return False
        end = n
        while end > 2 and buf[end - 1] in _TRIM:
            end -= 1
        if buf[:2] == _SOI and buf[end - 2 : end] == _EOI:
            self._emit(frames, end)
            return True
        self.stats.bad_length += 1
        self._part_len = None
        self._state = _SCAN
        return True

    def _scan(self, frames: list[Frame]) -> bool:
        buf = self._buf
        if buf[:2] != _SOI:
            soi = buf.find(_SOI)
            delim = self.delimiter
            d = buf.find(delim, 0, soi if soi >= 0 else len(buf)) if delim is not None else -1
            if d >= 0:
                self.stats.non_jpeg += 1
                self._drop(d)
                self._reset(_SEEK)
                return True
            if soi < 0:
                self._drop(len(buf) - (len(delim) + 2 if delim is not None else 1))
                return False
            self._drop(soi)
            self._eoi_from = 0
        try:
            end = self._jpeg_end()
        except _Corrupt:
            self.stats.corrupt += 1
            self._resync()
            return True
        if end is None:
            if len(buf) > self.max_frame:
                self.stats.oversize += 1
                self._resync()
                return True
            return False
        if end > self.max_frame:
            self.stats.oversize += 1
            self._drop(end)
            self._reset(_SEEK)
            return True
        self._emit(frames, end)
        return True

    def _jpeg_end(self) -> int | None:
        """End offset of the JPEG at the start of the buffer, or None if more is needed."""
        buf = self._buf
        if self._eoi_from:
            return self._find_eoi(self._eoi_from)
        size = len(buf)
        limit = min(size, self.max_frame)
        i = 2
        while True:
            if i + 1 >= limit:
                return None
            if buf[i] != 0xFF:
                raise _Corrupt
            while buf[i + 1] == 0xFF:  # fill bytes
                i += 1
                if i + 1 >= limit:
                    return None
            marker = buf[i + 1]
            if marker == 0xD9:
                return i + 2
            if 0xD0 <= marker <= 0xD7 or marker == 0x01:
                i += 2
                continue
            if marker in (0x00, 0xD8):
                raise _Corrupt
            if i + 3 >= limit:
                return None
            length = (buf[i + 2] << 8) | buf[i + 3]
            if length < 2:
                raise _Corrupt
            i += 2 + length
            if marker == _SOS:
                if i > size:
                    return None
                return self._find_eoi(i)

    def _find_eoi(self, start: int) -> int | None:
        buf = self._buf
        j = buf.find(_EOI, start)
        if j < 0:
            self._eoi_from = max(start, len(buf) - 1)
            return None
        return j + 2

    def _skip(self) -> bool:
        buf = self._buf
        delim = self.delimiter
        if delim is None:
            self._reset(_SEEK)
            return True
        d = buf.find(delim)
        if d < 0:
            self._drop(len(buf) - len(delim) - 2)
            return False
        self._drop(d)
        self._reset(_SEEK)
        return True

    def _emit(self, frames: list[Frame], end: int) -> None:
        buf = self._buf
        with memoryview(buf) as view:
            data = bytes(view[:end])
        frames.append(Frame(data, self._part_ts))
        del buf[:end]
        self.stats.frames += 1
        self._reset(_SEEK)

    def _resync(self) -> None:
        """Drop one byte and look for the next delimiter or SOI."""
        self._drop(1)
        self._reset(_SEEK)


def _int(value: bytes) -> int | None:
    text = value.strip()
    if not text.isdigit() or len(text) > 12:
        return None
    n = int(text)
    return n if n > 0 else None


def _float(value: bytes) -> float | None:
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None
