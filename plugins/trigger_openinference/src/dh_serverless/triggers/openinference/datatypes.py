"""The protocol's datatypes and their numpy forms, in JSON and as raw bytes.

Raw (binary extension, gRPC ``raw_*_contents``) tensors are flat, row-major and
little-endian; ``BYTES`` elements are each a 4-byte little-endian length followed by
that many bytes. Numeric tensors become numpy arrays without a Python loop; ``BYTES``
become ``object`` arrays of ``bytes`` (as tritonclient's ``as_numpy`` gives them).

``BF16`` arrays use ``ml_dtypes.bfloat16`` when ml_dtypes is installed, else ``uint16``
words holding the same bits.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = (
    "BF16_DTYPE",
    "DATATYPES",
    "MAX_DIMS",
    "TensorError",
    "check_shape",
    "datatype_of",
    "decode_bytes",
    "encode_bytes",
    "from_json",
    "from_raw",
    "json_data",
    "to_raw",
)


class TensorError(ValueError):
    """A tensor does not fit its datatype or shape; the message names the tensor."""


def _bf16_dtype() -> np.dtype[Any]:
    try:
        import ml_dtypes
    except ImportError:
        return np.dtype("<u2")
    return np.dtype(ml_dtypes.bfloat16)  # type: ignore[no-any-return]


#: the numpy dtype of BF16 tensors (``ml_dtypes.bfloat16``, or ``uint16`` words).
BF16_DTYPE = _bf16_dtype()

#: datatype name -> numpy dtype (little-endian; ``object`` for BYTES).
DATATYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "BF16": BF16_DTYPE,
    "BYTES": np.dtype(object),
}

_BY_DTYPE: dict[np.dtype[Any], str] = {
    dtype: name for name, dtype in DATATYPES.items() if name not in ("BF16", "BYTES")
}
if BF16_DTYPE.name == "bfloat16":
    _BY_DTYPE[BF16_DTYPE] = "BF16"
#: datatype -> the numpy kinds its JSON values may have (b: bool, iu: integers, f: floats)
_JSON_KINDS = {
    name: "b" if name == "BOOL" else ("iuf" if name.startswith("FP") else "iu")
    for name in ("BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32",
                 "INT64", "FP16", "FP32", "FP64")
}  # fmt: skip
_LENGTH = struct.Struct("<I")


def _json_bounds(dtype: np.dtype[Any]) -> tuple[float, float] | None:
    """The JSON values (as numpy reads them) that fit ``dtype``, lowest and highest: an
    integer type's range; for FP16 and FP32 every value that does not round to infinity."""
    if dtype.kind in "iu":
        ints = np.iinfo(dtype)
        return ints.min, ints.max
    if dtype.kind == "f" and dtype.itemsize < 8:
        floats = np.finfo(dtype)
        overflow = (float(floats.max) + 2.0**floats.maxexp) / 2  # halfway past max: rounds to inf
        highest = float(np.nextafter(overflow, 0.0))
        return -highest, highest
    return None


_lowest, _highest = np.minimum.reduce, np.maximum.reduce
#: up to this many elements, a flat list's bounds cost less in Python than in numpy
_SMALL = 32
_BOUNDS = {name: _json_bounds(DATATYPES[name]) for name in _JSON_KINDS}


def datatype_of(array: np.ndarray[Any, Any]) -> str:
    """The protocol datatype of a numpy array (``object``, ``S`` and ``U`` are BYTES)."""
    dtype = array.dtype
    name = _BY_DTYPE.get(dtype.newbyteorder("<") if dtype.byteorder == ">" else dtype)
    if name is not None:
        return name
    if dtype.kind in "OSU":
        return "BYTES"
    raise TensorError(f"numpy dtype {dtype} has no Open Inference datatype")


#: the most dimensions a tensor may have (numpy's own limit)
MAX_DIMS = 64
#: no tensor holds more elements than this, whatever its other dimensions
_MAX_ELEMENTS = 2**48


def check_shape(shape: Sequence[int], name: str) -> None:
    """Raise :class:`TensorError` for a shape no tensor could have: more than
    :data:`MAX_DIMS` dimensions, or sizes whose product (zeros left out) is absurd."""
    if len(shape) > MAX_DIMS:
        raise TensorError(f"input {name!r}: {len(shape)} dimensions; at most {MAX_DIMS}")
    nonzero = 1
    for dim in shape:
        if dim:
            nonzero *= dim
            if nonzero > _MAX_ELEMENTS:
                raise TensorError(f"input {name!r}: shape {list(shape)[:8]} is too large")


def element_count(shape: Sequence[int]) -> int:
    """The number of elements of ``shape`` (1 for ``[]``)."""
    return math.prod(shape)


def decode_bytes(buffer: bytes | memoryview, count: int, name: str) -> list[bytes]:
    """Split a raw BYTES tensor into its ``count`` elements; raise :class:`TensorError`."""
    view = memoryview(buffer)
    size = len(view)
    items: list[bytes] = []
    offset = 0
    unpack = _LENGTH.unpack_from
    while offset < size:
        if offset + 4 > size:
            raise TensorError(f"input {name!r}: BYTES data ends inside an element's length")
        (length,) = unpack(view, offset)
        offset += 4
        if offset + length > size:
            raise TensorError(
                f"input {name!r}: a BYTES element of {length} bytes runs past the data"
            )
        items.append(bytes(view[offset : offset + length]))
        offset += length
    if len(items) != count:
        raise TensorError(
            f"input {name!r}: {len(items)} BYTES elements do not fit its shape ({count} elements)"
        )
    return items


def encode_bytes(items: Iterable[Any]) -> bytes:
    """A raw BYTES tensor: each element (``bytes`` or ``str``) with its length prefix."""
    parts: list[bytes] = []
    pack = _LENGTH.pack
    for item in items:
        data = item.encode("utf-8") if isinstance(item, str) else bytes(item)
        parts.append(pack(len(data)))
        parts.append(data)
    return b"".join(parts)


def _object_array(items: list[Any], shape: Sequence[int]) -> np.ndarray[Any, Any]:
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array.reshape(shape)


def from_raw(
    buffer: bytes | memoryview, datatype: str, shape: Sequence[int], name: str
) -> np.ndarray[Any, Any]:
    """A tensor from its raw bytes: a read-only view (no copy) except for BYTES."""
    count = element_count(shape)
    if datatype == "BYTES":
        return _object_array(decode_bytes(buffer, count, name), shape)
    dtype = DATATYPES[datatype]
    if len(buffer) != count * dtype.itemsize:
        raise TensorError(
            f"input {name!r}: {len(buffer)} bytes of data do not fit {datatype} shape "
            f"{list(shape)} ({count * dtype.itemsize} bytes)"
        )
    return np.frombuffer(buffer, dtype=dtype).reshape(shape)


def _flatten_strings(data: Any, out: list[bytes], name: str) -> None:
    if isinstance(data, str):
        try:
            out.append(data.encode("utf-8"))
        except UnicodeEncodeError:  # a lone surrogate: not text
            raise TensorError(f"input {name!r}: a BYTES string is not valid Unicode") from None
    elif isinstance(data, list):
        for item in data:
            _flatten_strings(item, out, name)
    else:
        raise TensorError(
            f"input {name!r}: BYTES data must be strings, got {type(data).__name__} {data!r}"
        )


def _flat(data: Any, out: list[Any]) -> None:
    if isinstance(data, list):
        for item in data:
            _flat(item, out)
    else:
        out.append(data)


def _uint64(data: Any, name: str) -> np.ndarray[Any, Any]:
    flat: list[Any] = []
    _flat(data, flat)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in flat):
        raise TensorError(f"input {name!r}: UINT64 data must be integers")
    try:
        return np.array(flat, dtype=np.uint64)
    except OverflowError:
        raise TensorError(f"input {name!r}: a value is out of the range of UINT64") from None


def from_json(data: Any, datatype: str, shape: Sequence[int], name: str) -> np.ndarray[Any, Any]:
    """A tensor from a JSON ``data`` value, flat or nested (row-major); checked, never cast
    silently: integers stay integers, booleans booleans, and values must fit the type."""
    count = element_count(shape)
    if datatype == "BYTES":
        items: list[bytes] = []
        _flatten_strings(data, items, name)
        if len(items) != count:
            raise TensorError(
                f"input {name!r}: {len(items)} values do not fit shape {list(shape)} "
                f"({count} elements)"
            )
        return _object_array(items, shape)
    if datatype == "BF16":
        raise TensorError(
            f"input {name!r}: BF16 has no JSON form; send it with the binary data extension"
        )
    try:
        array = np.asarray(data)
    except (ValueError, TypeError, OverflowError) as exc:
        raise TensorError(f"input {name!r}: data is not a regular array: {exc}") from None
    if array.dtype.kind in "fO" and datatype == "UINT64":
        array = _uint64(data, name)  # numpy reads integers above 2**63 as floats
    if array.size != count:
        raise TensorError(
            f"input {name!r}: {array.size} values do not fit shape {list(shape)} ({count} elements)"
        )
    kinds = _JSON_KINDS[datatype]
    if array.dtype.kind not in kinds:
        what = {"b": "true or false", "iu": "integers", "iuf": "numbers"}[kinds]
        raise TensorError(f"input {name!r}: {datatype} data must be {what}")
    # Out of range is an error, not a silent cast: integers overflow, and 1e300 as FP32
    # or 1e10 as FP16 would become inf (JSON has no inf or NaN of its own).
    bounds = _BOUNDS.get(datatype)
    if bounds is not None and count:
        if count <= _SMALL and array.ndim == 1:  # a short flat list: Python's min and max
            low, high = min(data), max(data)
        else:
            low, high = _lowest(array, None), _highest(array, None)
        if low < bounds[0] or high > bounds[1]:
            raise TensorError(f"input {name!r}: a value is out of the range of {datatype}")
    return array.astype(DATATYPES[datatype], copy=False).reshape(shape)


def to_raw(array: np.ndarray[Any, Any], datatype: str) -> bytes | memoryview:
    """The raw bytes of a tensor: a view of a contiguous little-endian array, else a copy."""
    if datatype == "BYTES":
        return encode_bytes(array.reshape(-1))
    dtype = DATATYPES[datatype]
    if array.dtype != dtype or not array.flags.c_contiguous:
        array = np.ascontiguousarray(array, dtype=dtype)
    return array.reshape(-1).view(np.uint8).data


def json_data(array: np.ndarray[Any, Any], datatype: str) -> Any:
    """The JSON ``data`` of a tensor, flat: a numpy array orjson writes natively, or a list
    of ``str`` for BYTES. Raises ``UnicodeDecodeError`` for BYTES that are not UTF-8."""
    if datatype == "BYTES":
        return [
            item.decode("utf-8") if isinstance(item, bytes) else str(item)
            for item in array.reshape(-1)
        ]
    flat = array.reshape(-1)
    if not flat.flags.c_contiguous or flat.dtype.byteorder == ">":
        flat = np.ascontiguousarray(flat, dtype=flat.dtype.newbyteorder("="))
    return flat
