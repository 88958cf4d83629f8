"""What a handler may return, turned into outputs the trigger can encode.

:func:`to_result` is the trigger's ``result_converter``: the core calls it in the worker
(on the loop, on the worker thread, or in the worker process), so list-to-array work
happens there and, across processes, arrays travel as raw buffers. It accepts:

- a numpy array (one output), a list or tuple of arrays (outputs in declared order), or a
  ``dict`` of output name to array (or anything ``numpy.asarray`` takes);
- the protocol's response form, ``{"outputs": [{"name", "datatype", "shape", "data"}],
  "id", "parameters"}``, where ``data`` is a list (flat or nested) or an array;
- either of those as ``context.Response(body=...)``, the body being the object itself or
  its JSON text (``json.dumps(...)``), as the original's handlers return it;
- a ``Response`` with a status of 400 or more: an error answer, its body naming the error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import orjson

from dh_serverless.core.api import to_response
from dh_serverless.hookspecs import Converted, Response
from dh_serverless.triggers.openinference.datatypes import (
    DATATYPES,
    TensorError,
    datatype_of,
    from_json,
)

__all__ = ("InferenceResult", "OutputTensor", "to_result")


class OutputTensor:
    """One output: ``name`` (``None``: take the declared output at its position),
    ``datatype``, ``array`` (shaped) and optional ``parameters``."""

    __slots__ = ("array", "datatype", "name", "parameters")

    def __init__(
        self,
        name: str | None,
        datatype: str,
        array: np.ndarray[Any, Any],
        parameters: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.datatype = datatype
        self.array = array
        self.parameters = parameters

    def __reduce__(self) -> tuple[Any, ...]:
        return (OutputTensor, (self.name, self.datatype, self.array, self.parameters))

    def __repr__(self) -> str:
        return f"OutputTensor({self.name!r}, {self.datatype}, shape={list(self.array.shape)})"


class InferenceResult:
    """A handler's outputs, plus the ``id`` and ``parameters`` it chose to answer with."""

    __slots__ = ("id", "outputs", "parameters")

    def __init__(
        self,
        outputs: list[OutputTensor],
        id: str | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        self.outputs = outputs
        self.id = id
        self.parameters = parameters

    def __reduce__(self) -> tuple[Any, ...]:
        return (InferenceResult, (self.outputs, self.id, self.parameters))

    def __repr__(self) -> str:
        return f"InferenceResult({self.outputs!r}, id={self.id!r})"


#: native little-endian dtypes that need no conversion
_FAST = {dtype: name for name, dtype in DATATYPES.items() if name != "BYTES"}


def _is_response(value: Any) -> bool:
    return isinstance(value, Response) or (
        hasattr(value, "status_code") and hasattr(value, "body") and hasattr(value, "headers")
    )


def _array_output(name: str | None, value: Any) -> OutputTensor:
    array = value if type(value) is np.ndarray else np.asarray(value)
    datatype = _FAST.get(array.dtype)
    if datatype is not None and array.flags.c_contiguous:  # the common case, checked cheaply
        return OutputTensor(name, datatype, array)
    datatype = datatype_of(array)
    if datatype == "BYTES" and array.dtype.kind != "O":
        array = array.astype(object)
    elif datatype != "BYTES" and array.dtype != DATATYPES[datatype]:
        array = array.astype(DATATYPES[datatype])  # big-endian to little-endian
    if not array.flags.c_contiguous:
        array = np.ascontiguousarray(array)  # travels out-of-band to another process
    return OutputTensor(name, datatype, array)


def _protocol_output(index: int, item: Any) -> OutputTensor:
    if not isinstance(item, Mapping):
        raise TypeError(f"outputs[{index}] must be a mapping, got {type(item).__name__}")
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise TypeError(f"outputs[{index}] has no name")
    data = item.get("data")
    if data is None:
        raise TypeError(f"output {name!r} has no data")
    datatype = item.get("datatype")
    shape = item.get("shape")
    parameters = item.get("parameters")
    parameters = dict(parameters) if isinstance(parameters, Mapping) else None
    if isinstance(data, np.ndarray) and datatype is None:
        tensor = _array_output(name, data if shape is None else data.reshape(shape))
        tensor.parameters = parameters
        return tensor
    if not isinstance(datatype, str) or datatype.upper() not in DATATYPES:
        raise TypeError(f"output {name!r}: unknown datatype {datatype!r}")
    datatype = datatype.upper()
    if shape is None:
        shape = list(np.shape(data)) if datatype != "BYTES" else [len(data)]
    if not isinstance(shape, (list, tuple)) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise TypeError(f"output {name!r}: shape must be a list of sizes, got {shape!r}")
    if isinstance(data, np.ndarray) and datatype != "BYTES":
        if data.size != int(np.prod(shape)):
            raise TensorError(f"output {name!r}: {data.size} values do not fit shape {shape}")
        array = np.ascontiguousarray(data, dtype=DATATYPES[datatype]).reshape(shape)
    else:
        if isinstance(data, np.ndarray):
            data = data.tolist()
        if datatype == "BYTES":
            array = _bytes_array(data, shape, name)
        else:
            array = from_json(data, datatype, shape, name).copy()
    return OutputTensor(name, datatype, array, parameters)


def _flat_items(data: Any, out: list[bytes], name: str) -> None:
    if isinstance(data, (bytes, bytearray)):
        out.append(bytes(data))
    elif isinstance(data, str):
        out.append(data.encode("utf-8"))
    elif isinstance(data, (list, tuple)):
        for item in data:
            _flat_items(item, out, name)
    else:
        raise TensorError(f"output {name!r}: BYTES data must be str or bytes, got {data!r}")


def _bytes_array(data: Any, shape: Sequence[int], name: str) -> np.ndarray[Any, Any]:
    items: list[bytes] = []
    _flat_items(data, items, name)
    if len(items) != int(np.prod(shape)):
        raise TensorError(f"output {name!r}: {len(items)} values do not fit shape {list(shape)}")
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array.reshape(shape)


def _from_mapping(payload: Mapping[str, Any]) -> InferenceResult:
    if "outputs" in payload:
        outputs = payload["outputs"]
        if outputs is None:
            outputs = []
        if not isinstance(outputs, (list, tuple)):
            raise TypeError(f"outputs must be a list, got {type(outputs).__name__}")
        tensors = [_protocol_output(i, item) for i, item in enumerate(outputs)]
        request_id = payload.get("id")
        parameters = payload.get("parameters")
        return InferenceResult(
            tensors,
            request_id if isinstance(request_id, str) and request_id else None,
            dict(parameters) if isinstance(parameters, Mapping) and parameters else None,
        )
    return InferenceResult([_array_output(str(k), v) for k, v in payload.items()])


def _from_payload(payload: Any) -> InferenceResult:
    if type(payload) is dict and "outputs" not in payload:  # {name: array}, the fast path
        return InferenceResult([_array_output(str(k), v) for k, v in payload.items()])
    if isinstance(payload, np.ndarray):
        return InferenceResult([_array_output(None, payload)])
    if isinstance(payload, (bytes, bytearray, memoryview, str)):
        try:
            payload = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"the handler's answer is not JSON: {exc}") from None
    if isinstance(payload, Mapping):
        return _from_mapping(payload)
    if isinstance(payload, (list, tuple)) and all(isinstance(a, np.ndarray) for a in payload):
        return InferenceResult([_array_output(None, a) for a in payload])
    if payload is None:
        raise TypeError("the handler returned nothing; return the outputs")
    raise TypeError(
        f"the handler returned {type(payload).__name__}; return a numpy array, a dict of "
        'arrays, or {"outputs": [...]}'
    )


def to_result(result: Any) -> Response:
    """The trigger's ``result_converter``: a handler's result as a ``Converted`` whose
    ``value`` is an :class:`InferenceResult`, or an error ``Response`` (status >= 400,
    bytes body)."""
    status = 200
    if type(result) is dict or type(result) is np.ndarray:
        return Converted(_from_payload(result))
    if _is_response(result):
        status = result.status_code or 200
        if not isinstance(status, int) or isinstance(status, bool):
            return to_response(result)  # the core's own message for a bad status
        if status >= 400:
            return to_response(result)
        result = result.body
    elif isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], int):
        status, result = result
        if status >= 400:
            return to_response((status, result))
    return Converted(_from_payload(result), status)
