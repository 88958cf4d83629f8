"""Frames and MJPEG byte streams for every row of the quirk matrix (media.md section 1.2).

``build_variant(name, frames)`` returns ``(content_type, body, expected)``: the response
``Content-Type`` a server sends, the body bytes, and the frames a parser must return.
"""

from __future__ import annotations

import struct

import numpy as np
import simplejpeg

__all__ = ("VARIANTS", "build_variant", "make_frames", "strip_dht", "with_exif_thumbnail")


def make_frames(count: int, width: int = 64, height: int = 48) -> list[bytes]:
    """``count`` distinct small JPEGs (4:2:0, standard Huffman tables)."""
    frames = []
    y, x = np.mgrid[0:height, 0:width]
    for i in range(count):
        img = np.empty((height, width, 3), np.uint8)
        img[..., 0] = (x * 4 + i * 7) % 256
        img[..., 1] = (y * 5 + i * 13) % 256
        img[..., 2] = (i * 37) % 256
        frames.append(simplejpeg.encode_jpeg(img, quality=80, colorsubsampling="420"))
    return frames


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def with_exif_thumbnail(jpeg: bytes, thumbnail: bytes) -> bytes:
    """``jpeg`` with an APP1 EXIF segment holding a complete ``thumbnail`` JPEG."""
    app1 = _segment(0xE1, b"Exif\x00\x00MM\x00*\x00\x00\x00\x08" + thumbnail)
    return jpeg[:2] + app1 + jpeg[2:]


def strip_dht(jpeg: bytes) -> bytes:
    """``jpeg`` without its DHT segments (as USB cameras send: standard tables implied)."""
    out, i = bytearray(jpeg[:2]), 2
    while True:
        marker = jpeg[i + 1]
        length = struct.unpack(">H", jpeg[i + 2 : i + 4])[0]
        if marker != 0xC4:
            out += jpeg[i : i + 2 + length]
        i += 2 + length
        if marker == 0xDA:
            out += jpeg[i:]
            return bytes(out)


def _multipart(
    frames: list[bytes],
    *,
    boundary: str = "myboundary",
    nl: bytes = b"\r\n",
    length: str = "exact",
    first_delimiter: bool = True,
    closing: bool = False,
    extra: bytes = b"",
    type_header: bytes = b"Content-Type: image/jpeg",
    length_name: bytes = b"Content-Length",
    preamble: bytes = b"",
    padding: bytes = b"",
    non_jpeg_every: int = 0,
    crlf_after_delimiter: bool = True,
) -> bytes:
    out = bytearray(preamble)
    delim = b"--" + boundary.encode() + (b"--" if closing else b"")
    for i, frame in enumerate(frames):
        if non_jpeg_every and i % non_jpeg_every == 0:
            blob = b"\x00\x00\x00\x01\x67" + bytes(range(40)) + b"\xff\xd8 not a jpeg"
            out += delim + nl + b"Content-Type: video/x-h264" + nl
            out += b"Content-Length: %d" % len(blob) + nl + nl + blob + nl
        body = frame + padding
        if i or first_delimiter:
            out += delim + (nl if crlf_after_delimiter else b"")
        headers = [type_header]
        if length == "exact":
            headers.append(length_name + b": %d" % len(body))
        elif length == "padded":
            headers.append(length_name + b":      %d   " % len(body))
        elif length == "wrong":
            wrong = len(body) - 100 if i % 2 else len(body) + 57
            headers.append(length_name + b": %d" % wrong)
        elif length == "crlf":
            headers.append(length_name + b": %d" % (len(body) + 2))
        if extra:
            headers.append(extra % i if b"%d" in extra else extra)
        out += nl.join(headers) + nl + nl + body + nl
    return bytes(out)


MP = "multipart/x-mixed-replace; boundary=myboundary"


def build_variant(name: str, frames: list[bytes]) -> tuple[str, bytes, list[bytes]]:
    """The response ``Content-Type``, body and expected frames of one quirk variant."""
    expected = frames
    if name == "plain":  # 1
        return MP, _multipart(frames), expected
    if name == "dashed-boundary":  # 2
        ctype = "multipart/x-mixed-replace;boundary=--myboundary"
        return ctype, _multipart(frames), expected
    if name == "quoted-boundary":  # 3
        return 'multipart/x-mixed-replace ; boundary = "myboundary"', _multipart(frames), expected
    if name == "no-header-boundary":  # 4
        return "application/octet-stream", _multipart(frames, boundary="ffmpeg"), expected
    if name == "wrong-header-boundary":  # 5
        return MP, _multipart(frames, boundary="otherboundary"), expected
    if name == "lf-only":  # 6
        return MP, _multipart(frames, nl=b"\n"), expected
    if name == "no-first-delimiter":  # 7
        return MP, _multipart(frames, first_delimiter=False), expected
    if name == "no-length":  # 8
        return MP, _multipart(frames, length="none"), expected
    if name == "wrong-length":  # 9
        return MP, _multipart(frames, length="wrong"), expected
    if name == "length-counts-crlf":  # 9
        return MP, _multipart(frames, length="crlf"), expected
    if name == "padded-length":  # 10
        return MP, _multipart(frames, length="padded"), expected
    if name == "preamble":  # 11
        junk = b"HTTP stream follows\r\n\r\n\r\n-- not a boundary\r\n"
        return MP, _multipart(frames, preamble=junk), expected
    if name == "extra-headers":  # 12
        extra = b"X-Timestamp: 1700000000.%d\r\nMotion-Event: 0"
        return MP, _multipart(frames, extra=extra), expected
    if name == "closing-delimiters":  # 13
        return MP, _multipart(frames, closing=True), expected
    if name == "non-jpeg-parts":  # 14
        return MP, _multipart(frames, non_jpeg_every=2), expected
    if name == "jpg-subtype":  # 15
        body = _multipart(
            frames, type_header=b"content-TYPE: image/jpg", length_name=b"CONTENT-length"
        )
        return MP, body, expected
    if name == "raw-jpegs":  # 16
        return "image/jpeg", b"".join(frames), expected
    if name == "exif-thumbnail":  # 17
        thumb = make_frames(1, 16, 16)[0]
        expected = [with_exif_thumbnail(f, thumb) for f in frames]
        return MP, _multipart(expected, length="none"), expected
    if name == "padding-after-eoi":  # 18
        return MP, _multipart(frames, padding=b"\x00" * 13), expected
    if name == "no-dht":  # 19
        expected = [strip_dht(f) for f in frames]
        return MP, _multipart(expected), expected
    if name == "no-crlf-after-delimiter":  # 20
        return MP, _multipart(frames, crlf_after_delimiter=False), expected
    if name == "ffmpeg":  # what `ffmpeg -f mpjpeg` writes
        body = b"--ffmpeg\r\n" + b"".join(
            b"Content-type: image/jpeg\r\nContent-length: %d\r\n\r\n" % len(f)
            + f
            + b"\r\n--ffmpeg\r\n"
            for f in frames
        )
        return "multipart/x-mixed-replace;boundary=ffmpeg", body, expected
    raise KeyError(name)


VARIANTS = (
    "plain",
    "dashed-boundary",
    "quoted-boundary",
    "no-header-boundary",
    "wrong-header-boundary",
    "lf-only",
    "no-first-delimiter",
    "no-length",
    "wrong-length",
    "length-counts-crlf",
    "padded-length",
    "preamble",
    "extra-headers",
    "closing-delimiters",
    "non-jpeg-parts",
    "jpg-subtype",
    "raw-jpegs",
    "exif-thumbnail",
    "padding-after-eoi",
    "no-dht",
    "no-crlf-after-delimiter",
    "ffmpeg",
)
