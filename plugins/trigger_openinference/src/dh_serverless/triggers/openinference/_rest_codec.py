"""The REST inference body: JSON, or JSON followed by binary tensor data, both ways.

Written by hand on orjson and numpy: no validation library parses the binary data
extension, and a schema layer (pydantic and the like) is what makes the Python peers
5-9x slower (reference: ``openinference.md`` section 8).
"""

from __future__ import annotations

from typing import Any

import orjson

from dh_serverless.triggers.openinference._request import (
    InputTensor,
    ParsedRequest,
    RequestedOutput,
    RequestError,
    check_depth,
)
from dh_serverless.triggers.openinference.datatypes import (
    DATATYPES,
    TensorError,
    check_shape,
    from_json,
    from_raw,
    json_data,
    to_raw,
)
from dh_serverless.triggers.openinference.results import OutputTensor

__all__ = ("encode_response", "parse_header_length", "parse_request", "parse_shape")

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def _bad(message: str) -> RequestError:
    return RequestError(400, message)


def parse_shape(shape: Any, name: str) -> list[int]:
    """The shape of input ``name``: a list of sizes (integers >= 0); raise a 400 otherwise."""
    if type(shape) is not list:
        raise _bad(f"input {name!r}: shape must be a list of sizes, got {shape!r}")
    for dim in shape:
        if type(dim) is not int or dim < 0:  # type() also refuses bool
            raise _bad(f"input {name!r}: shape must be a list of sizes (0 or more), got {shape!r}")
    try:
        check_shape(shape, name)
    except TensorError as exc:
        raise _bad(str(exc)) from None
    return shape


def parse_header_length(value: str) -> int:
    """``Inference-Header-Content-Length``: ASCII digits only (no sign, blanks, or other
    scripts' digits); raise a 400 otherwise."""
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise _bad(
            f"Inference-Header-Content-Length is not a number (ASCII digits only): {value[:40]!r}"
        )
    return int(value)


def _mapping(value: Any, where: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad(f"{where} must be an object, got {type(value).__name__}")
    check_depth(value, where)
    return value


def _input(
    item: Any, index: int, body: memoryview, offset: int, binary: bool
) -> tuple[InputTensor, int]:
    if type(item) is not dict:
        raise _bad(f"inputs[{index}] must be an object")
    name = item.get("name")
    if type(name) is not str or not name:
        raise _bad(f"inputs[{index}] needs a name")
    datatype = item.get("datatype")
    if type(datatype) is not str or datatype not in DATATYPES:
        raise _bad(f"input {name!r}: unknown datatype {datatype!r}")
    shape = parse_shape(item.get("shape"), name)
    parameters = item.get("parameters")
    if parameters is not None:
        if type(parameters) is not dict:
            raise _bad(
                f"input {name!r}: parameters must be an object, got {type(parameters).__name__}"
            )
        check_depth(parameters, f"input {name!r}: parameters")
    size = parameters.get("binary_data_size") if parameters else None
    listed = None
    try:
        if size is not None:
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise _bad(f"input {name!r}: binary_data_size must be a size, got {size!r}")
            if not binary:
                raise _bad(
                    f"input {name!r} has binary_data_size but the request has no "
                    "Inference-Header-Content-Length header"
                )
            end = offset + size
            if end > len(body):
                raise _bad(f"input {name!r}: binary_data_size {size} runs past the end of the body")
            array = from_raw(body[offset:end], datatype, shape, name)
            offset = end
        else:
            if "data" not in item:
                raise _bad(f"input {name!r} has neither data nor binary_data_size")
            data = item["data"]
            array = from_json(data, datatype, shape, name)
            if (
                isinstance(data, list)
                and datatype != "BYTES"
                and not (data and isinstance(data[0], list))
            ):
                listed = data  # flat already: the lists body reuses it
    except TensorError as exc:
        raise _bad(str(exc)) from None
    return InputTensor(name, datatype, shape, array, parameters, listed), offset


def _outputs(value: Any) -> list[RequestedOutput] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise _bad("outputs must be a list")
    outputs = []
    for index, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise _bad(f"outputs[{index}] must be an object with a name")
        parameters = _mapping(item.get("parameters"), f"outputs[{index}].parameters")
        binary = parameters.get("binary_data") if parameters else None
        if binary is not None and not isinstance(binary, bool):
            raise _bad(f"output {item['name']!r}: binary_data must be true or false")
        outputs.append(RequestedOutput(item["name"], binary, parameters))
    return outputs


def parse_request(body: bytes | memoryview, header_length: int | None) -> ParsedRequest:
    """Parse an inference body; ``header_length`` is ``Inference-Header-Content-Length``."""
    view = memoryview(body)
    binary = header_length is not None
    if header_length is None:
        header_length = len(body)
    elif not 0 <= header_length <= len(body):
        raise _bad(
            f"Inference-Header-Content-Length is {header_length} but the body has {len(body)} bytes"
        )
    try:
        doc = orjson.loads(view[:header_length] if binary else body)
    except orjson.JSONDecodeError as exc:
        raise _bad(f"malformed JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise _bad("the request must be a JSON object")
    request_id = doc.get("id", "")
    if not isinstance(request_id, str):
        if isinstance(request_id, bool) or not isinstance(request_id, int):
            raise _bad("id must be a string")
        request_id = str(request_id)
    parameters = _mapping(doc.get("parameters"), "parameters")
    inputs_doc = doc.get("inputs")
    if not isinstance(inputs_doc, list):
        raise _bad("inputs must be a list of tensors")
    offset = header_length
    inputs = []
    names: set[str] = set()
    for index, item in enumerate(inputs_doc):
        tensor, offset = _input(item, index, view, offset, binary)
        if tensor.name in names:
            raise _bad(f"input {tensor.name!r} is given twice")
        names.add(tensor.name)
        inputs.append(tensor)
    if offset != len(body):
        raise _bad(
            f"{len(body) - offset} bytes of binary data follow the JSON header that no "
            "input's binary_data_size accounts for"
        )
    binary_output = parameters.get("binary_data_output", False) if parameters else False
    return ParsedRequest(
        request_id,
        parameters,
        inputs,
        _outputs(doc.get("outputs")),
        binary_output is True,
    )


def encode_response(
    model_name: str,
    model_version: str,
    request_id: str,
    parameters: dict[str, Any] | None,
    outputs: list[tuple[OutputTensor, bool]],
) -> tuple[bytes, int | None]:
    """The answer body, and the JSON header's length when binary data follows it.

    Each ``(tensor, binary)`` goes as JSON ``data`` or as binary data; BF16 and BYTES that
    are not UTF-8 have no JSON form and always go binary.
    """
    items = []
    chunks: list[Any] = []
    for tensor, binary in outputs:
        datatype = tensor.datatype
        array = tensor.array
        entry: dict[str, Any] = {
            "name": tensor.name,
            "datatype": datatype,
            "shape": list(array.shape),
        }
        params = dict(tensor.parameters) if tensor.parameters else None
        data = None
        if not binary and datatype != "BF16":
            try:
                data = json_data(array, datatype)
            except UnicodeDecodeError:  # not UTF-8: goes binary
                data = None
        if data is None:
            raw = to_raw(array, datatype)
            params = params or {}
            params["binary_data_size"] = len(raw)
            chunks.append(raw)
        else:
            entry["data"] = data
        if params:
            entry["parameters"] = params
        items.append(entry)
    doc: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request_id:
        doc["id"] = request_id
    if parameters:
        doc["parameters"] = parameters
    doc["outputs"] = items
    header = orjson.dumps(doc, option=_OPTIONS)
    if chunks:
        return b"".join([header, *chunks]), len(header)
    return header, None
