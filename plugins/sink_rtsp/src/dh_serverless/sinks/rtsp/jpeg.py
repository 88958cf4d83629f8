"""JPEG over RTP (RFC 2435): which JPEGs pass through as they are, and their payloads.

Written by hand: no maintained Python library packetises RFC 2435 or tells whether a
JPEG uses the standard Huffman tables the receiver assumes. Only the marker segments
before the scan are read; the entropy-coded data is sliced, never decoded.
"""

from __future__ import annotations

import struct

import attrs

__all__ = ("STANDARD_HUFFMAN", "JpegScan", "jpeg_payloads", "parse_jpeg")

# ITU T.81 Annex K.3: (class, id) -> code counts for lengths 1..16 followed by the symbols.
_DC_LUMA = bytes((0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0)) + bytes(range(12))
_DC_CHROMA = bytes((0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0)) + bytes(range(12))
_AC_LUMA = bytes((0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D)) + bytes.fromhex(
    "01020300041105122131410613516107227114328191a1082342b1c11552d1f02433627282090a161718191a"
    "25262728292a3435363738393a434445464748494a535455565758595a636465666768696a737475767778"
    "797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7"
    "c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9fa"
)
_AC_CHROMA = bytes((0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77)) + bytes.fromhex(
    "000102031104052131061241510761711322328108144291a1b1c109233352f0156272d10a162434e125f1"
    "1718191a262728292a35363738393a434445464748494a535455565758595a636465666768696a73747576"
    "7778797a82838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4"
    "c5c6c7c8c9cad2d3d4d5d6d7d8d9dae2e3e4e5e6e7e8e9eaf2f3f4f5f6f7f8f9fa"
)
#: The Huffman tables an RFC 2435 receiver assumes, keyed by (class, destination id).
STANDARD_HUFFMAN = {(0, 0): _DC_LUMA, (0, 1): _DC_CHROMA, (1, 0): _AC_LUMA, (1, 1): _AC_CHROMA}

_SOF_ANY = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_MAX_SIDE = 2040


@attrs.frozen
class JpegScan:
    """What RFC 2435 needs from one JPEG.

    :param qualifies: whether the JPEG can be sent as it is; ``reason`` says why not.
    :param type: RFC 2435 type, 0 (4:2:2) or 1 (4:2:0), plus 64 with restart markers.
    :param tables: the luma then the chroma quantisation table, 64 bytes each, zig-zag.
    :param scan: the entropy-coded data (after the SOS header, up to EOI).
    """

    width: int
    height: int
    qualifies: bool
    reason: str = ""
    type: int = 0
    restart_interval: int = 0
    tables: bytes = b""
    scan: bytes = b""


def parse_jpeg(data: bytes) -> JpegScan:
    """Read ``data``'s headers; raise ``ValueError`` when it is not a JPEG at all."""
    if len(data) < 4 or data[0] != 0xFF or data[1] != 0xD8:
        raise ValueError("not a JPEG (no SOI marker)")
    width = height = 0
    restart = 0
    quant: dict[int, bytes] = {}
    huffman: dict[tuple[int, int], bytes] = {}
    components: list[tuple[int, int, int, int]] = []  # id, h, v, table
    reason = ""
    pos = 2
    size = len(data)
    while True:
        while pos < size and data[pos] == 0xFF:
            pos += 1
        if pos >= size:
            raise ValueError("truncated JPEG: no scan")
        marker = data[pos]
        pos += 1
        if marker == 0xD8 or 0xD0 <= marker <= 0xD7 or marker == 0x01:
            continue
        if marker == 0xD9:
            raise ValueError("JPEG without a scan")
        if pos + 2 > size:
            raise ValueError("truncated JPEG marker segment")
        (length,) = struct.unpack_from("!H", data, pos)
        segment = data[pos + 2 : pos + length]
        if length < 2 or len(segment) != length - 2:
            raise ValueError("truncated JPEG marker segment")
        pos += length
        if marker in _SOF_ANY:
            if len(segment) < 6:
                raise ValueError("short SOF segment")
            precision, height, width, count = struct.unpack_from("!BHHB", segment)
            if len(segment) < 6 + 3 * count:
                raise ValueError("short SOF segment")
            for i in range(count):
                cid, sampling, table = segment[6 + 3 * i : 9 + 3 * i]
                components.append((cid, sampling >> 4, sampling & 15, table))
            if marker not in (0xC0, 0xC1):
                reason = reason or f"not baseline (SOF{marker - 0xC0})"
            elif precision != 8:
                reason = reason or f"{precision}-bit samples"
        elif marker == 0xDB:
            _read_dqt(segment, quant)
        elif marker == 0xC4:
            _read_dht(segment, huffman)
        elif marker == 0xDD:
            if len(segment) < 2:
                raise ValueError("short DRI segment")
            (restart,) = struct.unpack_from("!H", segment)
        elif marker == 0xDA:
            if not components:
                raise ValueError("scan before the frame header")
            return _describe(
                data, pos, segment, width, height, components, quant, huffman, restart, reason
            )


def _read_dqt(segment: bytes, quant: dict[int, bytes]) -> None:
    pos = 0
    while pos < len(segment):
        precision, table = segment[pos] >> 4, segment[pos] & 15
        size = 128 if precision else 64
        values = segment[pos + 1 : pos + 1 + size]
        if len(values) != size:
            raise ValueError("short DQT segment")
        # 16-bit tables cannot travel in RFC 2435's 8-bit in-band form: marked by length.
        quant[table] = values
        pos += 1 + size


def _read_dht(segment: bytes, huffman: dict[tuple[int, int], bytes]) -> None:
    pos = 0
    while pos < len(segment):
        if pos + 17 > len(segment):
            raise ValueError("short DHT segment")
        cls, table = segment[pos] >> 4, segment[pos] & 15
        count = sum(segment[pos + 1 : pos + 17])
        end = pos + 17 + count
        if end > len(segment):
            raise ValueError("short DHT segment")
        huffman[(cls, table)] = segment[pos + 1 : end]
        pos = end


def _describe(
    data: bytes,
    scan_start: int,
    sos: bytes,
    width: int,
    height: int,
    components: list[tuple[int, int, int, int]],
    quant: dict[int, bytes],
    huffman: dict[tuple[int, int], bytes],
    restart: int,
    reason: str,
) -> JpegScan:
    def fail(why: str) -> JpegScan:
        return JpegScan(width, height, qualifies=False, reason=why)

    if reason:
        return fail(reason)
    if len(components) != 3:
        return fail(f"{len(components)} colour components (needs 3)")
    (_, yh, yv, yq), (_, cbh, cbv, cq), (_, crh, crv, crq) = components
    if (cbh, cbv, crh, crv) != (1, 1, 1, 1) or (yh, yv) not in ((2, 1), (2, 2)):
        return fail(f"chroma subsampling {yh}x{yv},{cbh}x{cbv},{crh}x{crv} (needs 4:2:0 or 4:2:2)")
    if width % 8 or height % 8 or not 0 < width <= _MAX_SIDE or not 0 < height <= _MAX_SIDE:
        return fail(f"size {width}x{height} (needs multiples of 8, at most {_MAX_SIDE})")
    if cq != crq:
        return fail("Cb and Cr use different quantisation tables")
    luma, chroma = quant.get(yq), quant.get(cq)
    if luma is None or chroma is None or len(luma) != 64 or len(chroma) != 64:
        return fail("missing or 16-bit quantisation tables")
    if not sos or sos[0] != 3 or len(sos) < 1 + 2 * 3:
        return fail("not one interleaved scan of the three components")
    selectors = [sos[2 + 2 * i] for i in range(3)]
    if selectors != [0x00, 0x11, 0x11]:
        return fail("scan does not use Huffman tables 0 (luma) and 1 (chroma)")
    for key, standard in STANDARD_HUFFMAN.items():
        table = huffman.get(key)
        if table is not None and table != standard:
            return fail("optimised (non-standard) Huffman tables")
    end = data.rfind(b"\xff\xd9")
    if end < scan_start:
        end = len(data)
    if data.find(b"\xff\xda", scan_start, end) != -1:
        return fail("more than one scan (progressive or non-interleaved)")
    kind = (1 if yv == 2 else 0) + (64 if restart else 0)
    return JpegScan(
        width,
        height,
        qualifies=True,
        type=kind,
        restart_interval=restart,
        tables=luma + chroma,
        scan=data[scan_start:end],
    )


def jpeg_payloads(frame: JpegScan, limit: int = 1400) -> list[bytes]:
    """RTP payloads (RFC 2435) carrying one qualifying JPEG, Q = 255 with in-band tables."""
    scan = memoryview(frame.scan)
    restart = b""
    if frame.restart_interval:
        restart = struct.pack("!HH", frame.restart_interval, 0xFFFF)  # F=1, L=1, count 0x3FFF
    tables = struct.pack("!BBH", 0, 0, len(frame.tables)) + frame.tables
    w8, h8 = frame.width // 8, frame.height // 8
    payloads: list[bytes] = []
    offset = 0
    total = len(scan)
    while offset < total or not payloads:
        head = struct.pack("!I", offset & 0xFFFFFF)[:4]  # type-specific byte is 0
        head += bytes((frame.type, 255, w8, h8)) + restart
        if offset == 0:
            head += tables
        room = max(limit - len(head), 1)
        payloads.append(head + scan[offset : offset + room])
        offset += room
    return payloads
