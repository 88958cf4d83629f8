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
  start with SOI, end with EOI (after trimming CR, LF and NUL) and hold no delimiter;
  otherwise scan.
* ``SCAN``: walk the JPEG segments by their length fields up to SOS, then the first
  ``FF D9`` is the end of the image (an EXIF thumbnail's EOI is skipped with its segment).
  A part ends at its delimiter: an image that has not ended before the next delimiter,
  or before the next ``FF D8`` in its entropy-coded data (raw concatenated JPEGs), was
  cut short. It is counted in ``corrupt`` and dropped, never merged with what follows.
* ``SKIP``: a non-JPEG part: discard up to the next delimiter.

Well-formed parts (delimiter, header block, a ``Content-Length`` that frames a JPEG) take a
fast path first: a regular expression per part and one buffer compaction per ``feed``.
"""

from __future__ import annotations

import re

from dh_serverless.triggers.mjpeg.jpeg import (
    EOI,
    SOI,
    CorruptJpeg,
    CutShort,
    scan_start,
    trimmed_end,
)
from dh_serverless.triggers.mjpeg.multipart import (
    JPEG_TYPES,
    boundary_from_content_type,
    content_length,
    content_type,
    delimiter_for,
    learn_delimiter,
    parse_float,
    parse_int,
    part_pattern,
    timestamp,
    typical_part_pattern,
)

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

_SEEK, _HEADERS, _BODY, _SCAN, _SKIP = range(5)
_LINE_ENDS = b"\r\n\x00"
_SOI_OR_EOI = re.compile(rb"\xff[\xd8\xd9]")
_NEVER = re.compile(rb"(?!)")
#: learn a boundary from the body after this many parts found by SOI alone
_LEARN_AFTER = 2


def _whole_part(buf: bytearray, start: int, stop: int, end: int, delim: bytes) -> bool:
    """Whether the JPEG at ``buf[start:end]``, framed by a ``Content-Length`` ending at
    ``stop``, is its whole part: the next delimiter follows the length (past line ends),
    or, when those bytes have not arrived yet, none lies inside the image. A length that
    runs into the next part (the image was cut short) fails either way."""
    size = len(buf)
    k = stop
    while k < size and k < stop + 8 and buf[k] in _LINE_ENDS:
        k += 1
    if k + len(delim) <= size:
        return buf.startswith(delim, k)
    return buf.find(delim, start, end) < 0


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
        #: JPEGs whose structure was broken or that were cut short (dropped)
        self.corrupt = 0
        #: parts that were not JPEG images (skipped)
        self.non_jpeg = 0
        #: frames or header blocks over the size caps (dropped)
        self.oversize = 0
        #: bytes discarded outside frames (preambles, headers excluded, junk)
        self.dropped_bytes = 0


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
        self.delimiter: bytes | None = delimiter_for(boundary)
        self.stats = ParserStats()
        self._buf = bytearray()
        self._state = _SEEK
        self._part_len: int | None = None
        self._part_ts: float | None = None
        self._eoi_from = 0  # where the EOI search resumes in SCAN (0 = walk again)
        self._delim_from = 2  # where the search for a delimiter inside a SCAN image resumes
        self._misses = 0  # parts found by SOI while a declared delimiter was expected
        self._part_re: re.Pattern[bytes] | None = None
        self._typical_re: re.Pattern[bytes] = _NEVER
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
        self._delim_from = 2

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
        part it cannot take whole; the states handle it.

        The part a camera sends over and over (``Content-Type: image/jpeg`` and
        ``Content-Length`` alone, the image ending right at the length, CRLF and the next
        delimiter after it) is matched by one expression and checked inline; any other
        part takes the general header parsing and checks."""
        delim = self.delimiter
        assert delim is not None
        part_re = self._part_re
        if part_re is None or self._part_delim != delim:
            part_re = self._part_re = part_pattern(delim)
            self._typical_re = typical_part_pattern(delim)
            self._part_delim = delim
        typical = self._typical_re.match
        next_part = b"\r\n" + delim
        buf = self._buf
        size = len(buf)
        max_frame = self.max_frame
        append = frames.append
        pos = taken = dropped = 0
        with memoryview(buf) as view:
            while True:
                d = buf.find(delim, pos, pos + 1024)
                if d < 0 or buf.find(SOI, pos, d) >= 0:
                    break  # an image before the delimiter: the states decide
                dropped += d - pos
                fast = typical(buf, d)
                if fast is not None:
                    length = int(fast.group(1) or fast.group(2))
                    start = fast.end()
                    stop = start + length
                    if (
                        length <= max_frame
                        and stop + 2 + len(delim) <= size
                        and buf.startswith(SOI, start)
                        and buf.startswith(EOI, stop - 2)
                        and (buf.startswith(next_part, stop) or buf.startswith(delim, stop))
                    ):
                        append(Frame(bytes(view[start:stop])))
                        taken += 1
                        pos = stop
                        continue
                match = part_re.match(buf, d)
                if match is None:
                    break
                block = match.group(1)
                ctype = content_type(block)
                declared = content_length(block)
                if (ctype is not None and ctype not in JPEG_TYPES) or not declared:
                    break
                length = declared
                start = match.end()
                if length > max_frame or size < start + length:
                    break
                end = trimmed_end(buf, start, start + length)
                if buf[start : start + 2] != SOI or buf[end - 2 : end] != EOI:
                    break
                if not _whole_part(buf, start, start + length, end, delim):
                    break  # the length runs into the next part: this one was cut short
                append(Frame(bytes(view[start:end]), timestamp(block)))
                taken += 1
                pos = end
        if pos:
            del buf[:pos]
            self.stats.frames += taken
            self.stats.dropped_bytes += dropped
            self._misses = 0

    def _seek(self, frames: list[Frame]) -> bool:
        buf = self._buf
        delim = self.delimiter
        soi = buf.find(SOI)
        if delim is None or (self._misses >= _LEARN_AFTER and delim not in buf):
            learned = learn_delimiter(buf, soi if soi >= 0 else len(buf))
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

    def _headers(self) -> bool:
        buf = self._buf
        nl = buf.find(b"\n")  # the rest of the delimiter line (`--b--`, `--bContent-type:`)
        if nl < 0:
            return self._wait_header()
        pos = nl + 1
        ctype = None
        length: int | None = None
        stamp: float | None = None
        while True:
            if buf[pos : pos + 2] == SOI:
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
                length = parse_int(value)
            elif key == b"content-type":
                ctype = value.strip().split(b";")[0].strip().lower().decode("latin-1")
            elif key == b"x-timestamp":
                stamp = parse_float(value)
            pos = end + 1
        del buf[:pos]
        if ctype is not None and ctype not in JPEG_TYPES:
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
        end = trimmed_end(buf, 0, n)
        delim = self.delimiter
        if (
            buf[:2] == SOI
            and buf[end - 2 : end] == EOI
            and (delim is None or _whole_part(buf, 0, n, end, delim))
        ):
            self._emit(frames, end)
            return True
        self.stats.bad_length += 1
        self._part_len = None
        self._state = _SCAN
        return True

    def _scan(self, frames: list[Frame]) -> bool:
        buf = self._buf
        delim = self.delimiter
        if buf[:2] != SOI:
            soi = buf.find(SOI)
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
            self._delim_from = 2
        try:
            end = self._jpeg_end()
        except CutShort as cut:  # the next image starts inside this one
            d = buf.find(delim, 2, cut.at) if delim is not None else -1
            self._cut_short(d if d >= 0 else cut.at)  # keep the next part's headers
            return True
        except CorruptJpeg:
            self.stats.corrupt += 1
            self._resync()
            return True
        if delim is not None:  # a part ends at its delimiter, complete or not
            stop = len(buf) if end is None else end
            d = buf.find(delim, max(2, self._delim_from - len(delim)), stop)
            if d >= 0:
                self._cut_short(d)
                return True
            self._delim_from = stop
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
        if self._eoi_from:
            return self._find_eoi(self._eoi_from)
        walked = scan_start(self._buf, self.max_frame)
        if walked is None:
            return None
        offset, ended = walked
        return offset if ended else self._find_eoi(offset)

    def _find_eoi(self, start: int) -> int | None:
        buf = self._buf
        if self.delimiter is None or self._misses:
            # No delimiter ends the parts (raw JPEGs): entropy-coded data never holds
            # FF D8, so one there is the next image's start. (With a delimiter, the
            # delimiter check in SCAN catches an image cut short, for less.) One search
            # for both markers; from start - 1: an SOI across the end of SOS too.
            match = _SOI_OR_EOI.search(buf, start - 1)
            if match is not None and match.group() == SOI:
                raise CutShort(match.start())
            j = -1 if match is None else match.start()
        else:
            j = buf.find(EOI, start)
        if j < 0:
            self._eoi_from = max(start, len(buf) - 1)
            return None
        return j + 2

    def _cut_short(self, at: int) -> None:
        """The image at the start of the buffer ends before its EOI, at ``at``: drop it."""
        self.stats.corrupt += 1
        self._drop(at)
        self._reset(_SEEK)

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
