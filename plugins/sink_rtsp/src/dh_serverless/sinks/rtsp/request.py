"""An incremental reader of what RTSP clients send: requests and interleaved ``$`` frames.

Written by hand: RTSP/1.0 looks like HTTP/1.1 but is its own protocol (``RTSP/1.0``
version, ``CSeq``, binary ``$`` frames between requests), which HTTP parsers reject.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

__all__ = (
    "MAX_BODY",
    "MAX_HEAD",
    "BadRequest",
    "Interleaved",
    "Request",
    "RequestReader",
    "Response",
)

MAX_HEAD = 16 * 1024  #: the largest request line plus headers, in bytes
MAX_BODY = 64 * 1024  #: the largest request body, in bytes

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Request Entity Too Large",
    454: "Session Not Found",
    455: "Method Not Valid in This State",
    459: "Aggregate Operation Not Allowed",
    461: "Unsupported Transport",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "RTSP Version Not Supported",
}


class BadRequest(Exception):
    """The bytes received are not RTSP; the connection is answered ``status`` and closed."""

    def __init__(self, status: int, message: str, cseq: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.cseq = cseq


@attrs.frozen
class Request:
    """One RTSP request. Header names are lower-cased; the last value of a name wins."""

    method: str
    uri: str
    version: str
    headers: dict[str, str]
    body: bytes = b""

    @property
    def cseq(self) -> str | None:
        """The ``CSeq`` header, echoed in the response."""
        return self.headers.get("cseq")


@attrs.frozen
class Interleaved:
    """One ``$`` frame the client sent on the connection (its RTCP receiver reports)."""

    channel: int
    data: bytes


@attrs.define
class Response:
    """One RTSP response, serialised by :meth:`encode`."""

    status: int
    headers: list[tuple[str, str]] = attrs.Factory(list)
    body: bytes = b""
    #: called right after the response is written (PLAY starts sending then)
    after: Callable[[], None] | None = attrs.field(default=None, eq=False, repr=False)

    def encode(self, cseq: str | None) -> bytes:
        """The response's bytes, echoing ``cseq`` and ending with ``Content-Length``."""
        lines = [f"RTSP/1.0 {self.status} {_REASONS.get(self.status, 'Unknown')}"]
        if cseq is not None:
            lines.append(f"CSeq: {cseq}")
        lines.extend(f"{name}: {value}" for name, value in self.headers)
        if self.body:
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body


def _token(text: str) -> bool:
    return bool(text) and all(33 <= ord(c) < 127 for c in text)


class RequestReader:
    """Feed bytes with :meth:`feed`; it returns the complete requests and ``$`` frames.

    Raises :class:`BadRequest` when the input cannot be RTSP; the reader is then unusable
    (the framing is lost) and the connection should be closed after the answer.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Request | Interleaved]:
        """Append ``data`` and return everything now complete, in order."""
        buffer = self._buffer
        buffer += data
        out: list[Request | Interleaved] = []
        while buffer:
            if buffer[0] == 0x24:  # "$"
                if len(buffer) < 4:
                    break
                size = (buffer[2] << 8) | buffer[3]
                if len(buffer) < 4 + size:
                    break
                out.append(Interleaved(buffer[1], bytes(buffer[4 : 4 + size])))
                del buffer[: 4 + size]
                continue
            if buffer[0] in (0x0D, 0x0A):  # stray line ends between requests
                del buffer[:1]
                continue
            end = buffer.find(b"\r\n\r\n")
            sep = 4
            if end == -1:
                end = buffer.find(b"\n\n")
                sep = 2
            if end == -1:
                if len(buffer) > MAX_HEAD:
                    raise BadRequest(400, "request head too long")
                break
            if end > MAX_HEAD:
                raise BadRequest(400, "request head too long")
            request = self._parse_head(bytes(buffer[:end]))
            length = self._content_length(request)
            if len(buffer) < end + sep + length:
                break
            body = bytes(buffer[end + sep : end + sep + length])
            del buffer[: end + sep + length]
            out.append(attrs.evolve(request, body=body))
        return out

    @staticmethod
    def _parse_head(head: bytes) -> Request:
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest(400, "request is not UTF-8 text") from None
        lines = text.replace("\r\n", "\n").split("\n")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            name = name.strip()
            if not colon or not _token(name):
                raise BadRequest(400, f"malformed header line {line[:80]!r}")
            headers[name.lower()] = value.strip()
        cseq = headers.get("cseq")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not all(_token(p) for p in parts):
            raise BadRequest(400, f"malformed request line {lines[0][:80]!r}", cseq)
        method, uri, version = parts
        if not version.startswith("RTSP/"):
            raise BadRequest(400, f"not an RTSP request: {version[:20]!r}", cseq)
        if version != "RTSP/1.0":
            raise BadRequest(505, f"unsupported version {version[:20]!r}", cseq)
        if cseq is None:
            raise BadRequest(400, "missing CSeq header")
        return Request(method, uri, version, headers)

    @staticmethod
    def _content_length(request: Request) -> int:
        raw = request.headers.get("content-length", "0")
        if not raw.isdigit() or not raw.isascii():
            raise BadRequest(400, f"bad Content-Length {raw[:20]!r}", request.cseq)
        length = int(raw)
        if length > MAX_BODY:
            raise BadRequest(413, f"request body of {length} bytes", request.cseq)
        return length
