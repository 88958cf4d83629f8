"""The multipart side of an MJPEG stream: boundaries, delimiters and part headers."""

from __future__ import annotations

import math
import re

__all__ = (
    "JPEG_TYPES",
    "boundary_from_content_type",
    "content_length",
    "content_type",
    "delimiter_for",
    "learn_delimiter",
    "part_pattern",
    "timestamp",
    "typical_part_pattern",
)

#: part content types taken as JPEG (``image/jpg`` is what Motion-style servers send)
JPEG_TYPES = frozenset({"image/jpeg", "image/jpg", "image/pjpeg"})
_BOUNDARY = re.compile(r"""boundary\s*=\s*(?:"([^"]*)"|([^;,\s]+))""", re.IGNORECASE)
_LEARN = re.compile(rb"(?:^|\n)(--[!-~]{1,70})\r?\n[A-Za-z0-9-]{1,64}[ \t]*:")
_LENGTH = re.compile(rb"(?im)^[ \t]*content-length[ \t]*:[ \t]*(\d{1,12})[ \t]*\r?$")
_TYPE = re.compile(rb"(?im)^[ \t]*content-type[ \t]*:[ \t]*([^;\r\n]*)")
_STAMP = re.compile(rb"(?im)^[ \t]*x-timestamp[ \t]*:[ \t]*([^\r\n]*)")


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


def delimiter_for(boundary: str | None) -> bytes | None:
    """``--boundary`` as bytes (quotes and extra leading dashes removed), or ``None``."""
    b = (boundary or "").strip().strip('"').strip()
    while b.startswith("--"):
        b = b[2:]
    return b"--" + b.encode("latin-1", "replace") if b else None


def learn_delimiter(buf: bytes | bytearray, end: int) -> bytes | None:
    """A delimiter seen in ``buf[:end]``: a ``--token`` line followed by a header line."""
    match = _LEARN.search(buf, 0, end)
    if match is None:
        return None
    token = match.group(1)
    while token.endswith(b"--") and len(token) > 4:  # a closing-style `--b--` line
        token = token[:-2]
    return bytes(token)


def part_pattern(delimiter: bytes) -> re.Pattern[bytes]:
    """Delimiter line, then a complete header block (group 1), then the blank line."""
    return re.compile(
        re.escape(delimiter) + rb"[^\n]{0,80}\n((?:[^\r\n][^\n]{0,1000}\n){0,32}?)\r?\n"
    )


def typical_part_pattern(delimiter: bytes) -> re.Pattern[bytes]:
    """The part most cameras send, whole up to its body: the delimiter line (CRLF), then
    exactly ``Content-Type: image/jpeg`` (or ``image/jpg``, ``image/pjpeg``) and
    ``Content-Length: N`` in either order, any case, then the blank line. The length is
    group 1 or 2. A part this does not match takes :func:`part_pattern`."""
    ctype = rb"content-type:[ \t]*image/(?:jpeg|jpg|pjpeg)[ \t]*\r\n"
    length = rb"content-length:[ \t]*(\d{1,12})[ \t]*\r\n"
    length2 = length.replace(rb"(\d", rb"(?P<n2>\d")
    return re.compile(
        re.escape(delimiter) + rb"\r\n(?i:" + ctype + length + rb"|" + length2 + ctype + rb")\r\n"
    )


def content_length(block: bytes) -> int | None:
    """The ``Content-Length`` of a header block (any case, padded), or ``None``."""
    match = _LENGTH.search(block)
    return int(match.group(1)) if match is not None else None


def content_type(block: bytes) -> str | None:
    """The media type of a header block's ``Content-Type``, lower case, or ``None``."""
    match = _TYPE.search(block)
    return match.group(1).strip().lower().decode("latin-1") if match is not None else None


def timestamp(block: bytes) -> float | None:
    """The ``X-Timestamp`` of a header block (capture time, seconds), or ``None``."""
    if b"imestamp" not in block:
        return None
    match = _STAMP.search(block)
    return parse_float(match.group(1)) if match is not None else None


def parse_int(value: bytes) -> int | None:
    """A positive decimal (surrounding blanks allowed), or ``None``."""
    text = value.strip()
    if not text.isdigit() or len(text) > 12:
        return None
    n = int(text)
    return n if n > 0 else None


def parse_float(value: bytes) -> float | None:
    """A finite number, or ``None``."""
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None
