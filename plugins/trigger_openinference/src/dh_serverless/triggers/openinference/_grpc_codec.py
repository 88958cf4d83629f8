"""``ModelInferRequest`` in, ``ModelInferResponse`` out.

Inputs come as ``raw_input_contents`` (what tritonclient sends; zero-copy arrays) or as
typed ``contents``. Outputs go as ``raw_output_contents`` (what tritonclient reads),
except to a client that sent typed contents: it gets typed contents back, unless an
output (FP16, BF16) has no typed field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

from dh_serverless.triggers.openinference._generated import dh_openinference_pb2 as pb
from dh_serverless.triggers.openinference._request import (
    InputTensor,
    ParsedRequest,
    RequestedOutput,
    RequestError,
    cap,
)
from dh_serverless.triggers.openinference.datatypes import (
    DATATYPES,
    TensorError,
    check_shape,
    element_count,
    from_raw,
    to_raw,
)
from dh_serverless.triggers.openinference.results import OutputTensor

__all__ = ("Undecodable", "encode_response", "lenient", "parse_request", "read_parameters")


class Undecodable:
    """What a request message that is not valid protobuf decodes to (see :func:`lenient`)."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


def lenient(parse: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    """``parse``, returning an :class:`Undecodable` instead of raising: the RPC then
    answers ``INVALID_ARGUMENT`` with a plain message, where grpc would answer
    ``UNKNOWN`` naming the exception class."""

    def decode(data: bytes) -> Any:
        try:
            return parse(data)
        except DecodeError as exc:
            return Undecodable(cap(f"the request is not a valid protobuf message: {exc}"))

    return decode


#: datatype -> the ``InferTensorContents`` field that carries it (FP16, BF16: raw only)
TYPED_FIELDS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}
_Response = pb.ModelInferResponse
_Output = pb.ModelInferResponse.InferOutputTensor


def read_parameters(parameters: Any) -> dict[str, Any] | None:
    """A ``map<string, InferParameter>`` as a plain dict (``None`` if empty)."""
    if not parameters:
        return None
    out = {}
    for key, value in parameters.items():
        choice = value.WhichOneof("parameter_choice")
        out[key] = getattr(value, choice) if choice else None
    return out


def _write_parameters(target: Any, parameters: dict[str, Any]) -> None:
    for key, value in parameters.items():
        slot = target[str(key)]
        if isinstance(value, bool):
            slot.bool_param = value
        elif isinstance(value, int):
            if value > 2**63 - 1:
                slot.uint64_param = value
            else:
                slot.int64_param = value
        elif isinstance(value, float):
            slot.double_param = value
        else:
            slot.string_param = str(value)


def _typed(tensor: Any, datatype: str, shape: list[int], name: str) -> np.ndarray[Any, Any]:
    field = TYPED_FIELDS.get(datatype)
    if field is None:
        raise TensorError(f"input {name!r}: {datatype} has no typed contents; send it raw")
    values = getattr(tensor.contents, field)
    count = element_count(shape)
    if len(values) != count:
        raise TensorError(
            f"input {name!r}: {len(values)} values do not fit shape {shape} ({count} elements)"
        )
    if datatype == "BYTES":
        array = np.empty(count, dtype=object)
        array[:] = list(values)
        return array.reshape(shape)
    dtype = DATATYPES[datatype]
    wide = np.array(values)
    if dtype.kind in "iu" and wide.size:
        info = np.iinfo(dtype)
        if wide.min() < info.min or wide.max() > info.max:
            raise TensorError(f"input {name!r}: a value is out of the range of {datatype}")
    return wide.astype(dtype, copy=False).reshape(shape)


def parse_request(request: Any) -> ParsedRequest:
    """A checked :class:`ParsedRequest`; raises a 400 ``RequestError``."""
    raw = request.raw_input_contents
    inputs_pb = request.inputs
    if raw and len(raw) != len(inputs_pb):
        raise RequestError(
            400, f"{len(raw)} raw_input_contents for {len(inputs_pb)} inputs: give one per input"
        )
    inputs = []
    names: set[str] = set()
    size = 0
    for index, tensor in enumerate(inputs_pb):
        name = tensor.name
        if not name:
            raise RequestError(400, f"inputs[{index}] needs a name")
        if name in names:
            raise RequestError(400, f"input {name!r} is given twice")
        names.add(name)
        datatype = tensor.datatype
        if datatype not in DATATYPES:
            raise RequestError(400, f"input {name!r}: unknown datatype {datatype!r}")
        shape = list(tensor.shape)
        if any(d < 0 for d in shape):
            raise RequestError(400, f"input {name!r}: shape must be sizes (0 or more): {shape}")
        try:
            check_shape(shape, name)
            if raw:
                buffer = raw[index]  # each access copies the bytes out of the message
                size += len(buffer)
                array = from_raw(buffer, datatype, shape, name)
            else:
                array = _typed(tensor, datatype, shape, name)
        except TensorError as exc:
            raise RequestError(400, str(exc)) from None
        inputs.append(InputTensor(name, datatype, shape, array, read_parameters(tensor.parameters)))
    outputs = None
    if request.outputs:
        outputs = [
            RequestedOutput(o.name, None, read_parameters(o.parameters)) for o in request.outputs
        ]
    parsed = ParsedRequest(
        request.id,
        read_parameters(request.parameters),
        inputs,
        outputs,
        typed=bool(inputs) and not raw,
    )
    parsed.size = size if raw else request.ByteSize()
    return parsed


def encode_response(
    model_name: str,
    model_version: str,
    request_id: str,
    parameters: dict[str, Any] | None,
    outputs: list[OutputTensor],
    typed: bool,
) -> tuple[Any, int]:
    """The ``ModelInferResponse`` (raw contents, or typed ones when ``typed`` and possible)
    and the bytes of tensor data it carries."""
    typed = typed and all(t.datatype in TYPED_FIELDS for t in outputs)
    tensors = []
    raws = []
    for tensor in outputs:
        array = tensor.array
        out = _Output(name=tensor.name, datatype=tensor.datatype, shape=array.shape)
        if tensor.parameters:
            _write_parameters(out.parameters, tensor.parameters)
        if typed:
            flat = array.reshape(-1)
            values = list(flat) if tensor.datatype == "BYTES" else flat.tolist()
            getattr(out.contents, TYPED_FIELDS[tensor.datatype]).extend(values)
        else:
            raw = to_raw(array, tensor.datatype)
            raws.append(raw if isinstance(raw, bytes) else raw.tobytes())
        tensors.append(out)
    response = _Response(
        model_name=model_name,
        model_version=model_version,
        id=request_id,
        outputs=tensors,
        raw_output_contents=raws,
    )
    if parameters:
        _write_parameters(response.parameters, parameters)
    return response, sum(map(len, raws)) if raws else response.ByteSize()
