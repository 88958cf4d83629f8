"""What a handler finds in ``event.body``, in either of the two forms ``tensors`` selects.

``tensors: numpy``: an :class:`InferenceRequest`, inputs as numpy arrays. Arrays of
binary/raw inputs are read-only views of the received bytes (no copy): copy one
(``array.copy()``) to change it in place.

``tensors: lists`` (the default, the original's form): a :class:`RequestBody`, the parsed
request as a mapping, each input with a flat row-major ``data`` list; it is also the JSON
text of that mapping, so ``json.loads(event.body)`` works as the seed README shows.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import orjson

from dh_serverless.triggers.openinference._request import InputTensor, ParsedRequest, RequestError
from dh_serverless.triggers.openinference.config import DEFAULT_MAX_LIST_ELEMENTS
from dh_serverless.triggers.openinference.datatypes import BF16_DTYPE

__all__ = (
    "InferenceRequest",
    "RequestBody",
    "lists_body",
    "numpy_body",
)


#: parameters of the binary data extension: transport details, not the model's business
_TRANSPORT = frozenset(("binary_data_output", "binary_data_size", "binary_data"))


class InferenceRequest:
    """An inference request with numpy inputs (``tensors: numpy``).

    :ivar inputs: input name -> array, in request order (``request["INPUT0"]`` works too).
    :ivar input_parameters: input name -> its ``parameters`` (only inputs that have some).
    :ivar parameters: the request's ``parameters`` (``{}`` if none).
    :ivar outputs: the output names the client asked for, or ``None`` for all.
    :ivar id: the request ``id`` (``""`` if none).
    :ivar model_name: the model served.
    :ivar model_version: its version.
    :ivar protocol: ``"rest"`` or ``"grpc"``.
    """

    __slots__ = (
        "id",
        "input_parameters",
        "inputs",
        "model_name",
        "model_version",
        "outputs",
        "parameters",
        "protocol",
    )

    def __init__(
        self,
        inputs: dict[str, np.ndarray[Any, Any]],
        *,
        model_name: str = "",
        model_version: str = "",
        id: str = "",
        parameters: dict[str, Any] | None = None,
        input_parameters: dict[str, dict[str, Any]] | None = None,
        outputs: list[str] | None = None,
        protocol: str = "rest",
    ) -> None:
        self.inputs = inputs
        self.model_name = model_name
        self.model_version = model_version
        self.id = id
        self.parameters = parameters or {}
        self.input_parameters = input_parameters or {}
        self.outputs = outputs
        self.protocol = protocol

    def __getitem__(self, name: str) -> np.ndarray[Any, Any]:
        return self.inputs[name]

    def __contains__(self, name: object) -> bool:
        return name in self.inputs

    def __iter__(self) -> Iterator[str]:
        return iter(self.inputs)

    def __len__(self) -> int:
        return len(self.inputs)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_request, (self.inputs, self._meta()))

    def _meta(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "model_version": self.model_version,
            "id": self.id,
            "parameters": self.parameters,
            "input_parameters": self.input_parameters,
            "outputs": self.outputs,
            "protocol": self.protocol,
        }

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}: {v.dtype}{list(v.shape)}" for k, v in self.inputs.items())
        return f"InferenceRequest({{{shapes}}}, id={self.id!r})"


def _rebuild_request(inputs: dict[str, Any], meta: dict[str, Any]) -> InferenceRequest:
    return InferenceRequest(inputs, **meta)


def _bytes_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    raise TypeError


class RequestBody(str):
    """The parsed request (``tensors: lists``): a read-only mapping, and its JSON text.

    ``body["inputs"]``, ``body.get("id")``, ``"parameters" in body``, ``body.keys()``
    read the mapping, as a Nuclio handler of the original reads a dict body; being a
    ``str`` holding the same request as JSON, ``json.loads(body)`` returns a plain dict.
    ``len()`` and slicing are those of the text; :attr:`data` is the plain dict.
    BYTES elements are ``str`` (UTF-8), or ``bytes`` if they are not UTF-8 (base64 in the
    JSON text).
    """

    data: dict[str, Any]

    def __new__(cls, data: dict[str, Any], text: str | None = None) -> RequestBody:
        if text is None:
            text = orjson.dumps(data, default=_bytes_default).decode("utf-8")
        self = super().__new__(cls, text)
        self.data = data
        return self

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return self.data[key]
        return str.__getitem__(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        """``dict.get`` on the request."""
        return self.data.get(key, default)

    def keys(self) -> Any:
        """``dict.keys`` of the request."""
        return self.data.keys()

    def values(self) -> Any:
        """``dict.values`` of the request."""
        return self.data.values()

    def items(self) -> Any:
        """``dict.items`` of the request."""
        return self.data.items()

    def __contains__(self, key: object) -> bool:
        return key in self.data

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self.data == other
        return str.__eq__(self, other)

    __hash__ = str.__hash__

    def __reduce__(self) -> tuple[Any, ...]:
        return (RequestBody, (self.data, str(self)))


def _params(parameters: dict[str, Any] | None) -> dict[str, Any] | None:
    if not parameters:
        return None
    if _TRANSPORT.isdisjoint(parameters):
        return parameters
    kept = {k: v for k, v in parameters.items() if k not in _TRANSPORT}
    return kept or None


def _listed(tensor: InputTensor) -> list[Any]:
    if tensor.listed is not None:
        return tensor.listed
    array = tensor.array.reshape(-1)
    if tensor.datatype == "BYTES":
        out: list[Any] = []
        for item in array:
            try:
                out.append(item.decode("utf-8"))
            except UnicodeDecodeError:
                out.append(item)
        return out
    if tensor.datatype == "BF16":
        if array.dtype == BF16_DTYPE and BF16_DTYPE.kind != "u":
            listed: list[Any] = array.astype(np.float32).tolist()
            return listed
        words = array.astype(np.uint32) << 16
        listed = words.view(np.float32).tolist()
        return listed
    listed = array.tolist()
    return listed


def lists_body(
    request: ParsedRequest,
    model_name: str,
    model_version: str,
    max_elements: int = DEFAULT_MAX_LIST_ELEMENTS,
) -> RequestBody:
    """The original's body: ``{model_name, model_version, id, parameters, inputs, outputs}``
    with ``inputs[i] = {name, datatype, shape, data[, parameters]}``.

    Raises a 413 ``RequestError`` when the inputs hold more than ``max_elements`` elements
    together: their list and text forms would take many times the request's size.
    """
    elements = sum(tensor.array.size for tensor in request.inputs)
    if elements > max_elements:
        raise RequestError(
            413,
            f"the inputs hold {elements} elements; with tensors: lists at most {max_elements} "
            "(raise attributes.maxListElements, or use tensors: numpy, which has no such bound)",
        )
    inputs = []
    for tensor in request.inputs:
        item: dict[str, Any] = {
            "name": tensor.name,
            "datatype": tensor.datatype,
            "shape": tensor.shape,
            "data": _listed(tensor),
        }
        params = _params(tensor.parameters)
        if params:
            item["parameters"] = params
        inputs.append(item)
    data: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request.id:
        data["id"] = request.id
    params = _params(request.parameters)
    if params:
        data["parameters"] = params
    data["inputs"] = inputs
    if request.outputs is not None:
        outputs = []
        for output in request.outputs:
            entry: dict[str, Any] = {"name": output.name}
            out_params = _params(output.parameters)
            if out_params:
                entry["parameters"] = out_params
            outputs.append(entry)
        data["outputs"] = outputs
    return RequestBody(data)


def numpy_body(
    request: ParsedRequest, model_name: str, model_version: str, protocol: str
) -> InferenceRequest:
    """The fast path's body: inputs as arrays, nothing turned into lists."""
    inputs = {}
    input_parameters = {}
    for tensor in request.inputs:
        inputs[tensor.name] = tensor.array
        if tensor.parameters:
            params = _params(tensor.parameters)
            if params:
                input_parameters[tensor.name] = params
    return InferenceRequest(
        inputs,
        model_name=model_name,
        model_version=model_version,
        id=request.id,
        parameters=_params(request.parameters) if request.parameters else None,
        input_parameters=input_parameters,
        outputs=None if request.outputs is None else [o.name for o in request.outputs],
        protocol=protocol,
    )
