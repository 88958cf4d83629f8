"""A parsed inference request, the same for REST and gRPC, and the errors parsing raises."""

from __future__ import annotations

from typing import Any

import numpy as np

from dh_serverless.core.api import cap_text

__all__ = (
    "MAX_MESSAGE",
    "MAX_PARAMETER_DEPTH",
    "InputTensor",
    "ParsedRequest",
    "RequestError",
    "RequestedOutput",
    "cap",
    "check_depth",
)

#: the longest error message sent back: a client's input is echoed, never in full
MAX_MESSAGE = 1024
#: ``cap(text)``: ``text`` cut to :data:`MAX_MESSAGE` characters (the core's one rule)
cap = cap_text
#: how deep ``parameters`` values may nest (objects and lists)
MAX_PARAMETER_DEPTH = 32


def check_depth(value: Any, where: str, limit: int = MAX_PARAMETER_DEPTH) -> None:
    """Raise a 400 when ``value`` nests objects or lists deeper than ``limit``."""
    if not isinstance(value, (dict, list)):
        return
    for item in value.values() if isinstance(value, dict) else value:
        if isinstance(item, (dict, list)):
            break
    else:
        return  # flat, as parameters mostly are
    level = [value]
    depth = 0
    while level:
        nested = [
            item
            for v in level
            if isinstance(v, (dict, list))
            for item in (v.values() if isinstance(v, dict) else v)
            if isinstance(item, (dict, list))
        ]
        if nested:
            depth += 1
            if depth >= limit:
                raise RequestError(400, f"{where} nest deeper than {limit} levels")
        level = nested


class RequestError(Exception):
    """A request the trigger answers itself: ``status`` is the HTTP status (400, 404, ...)."""

    def __init__(self, status: int, message: str) -> None:
        message = cap(message)
        super().__init__(message)
        self.status = status
        self.message = message


class InputTensor:
    """One input: its array and, for flat JSON data, the list it came from."""

    __slots__ = ("array", "datatype", "listed", "name", "parameters", "shape")

    def __init__(
        self,
        name: str,
        datatype: str,
        shape: list[int],
        array: np.ndarray[Any, Any],
        parameters: dict[str, Any] | None,
        listed: list[Any] | None = None,
    ) -> None:
        self.name = name
        self.datatype = datatype
        self.shape = shape
        self.array = array
        self.parameters = parameters
        self.listed = listed


class RequestedOutput:
    """One entry of ``outputs``: a name, and ``binary`` if the client chose (REST only)."""

    __slots__ = ("binary", "name", "parameters")

    def __init__(self, name: str, binary: bool | None, parameters: dict[str, Any] | None) -> None:
        self.name = name
        self.binary = binary
        self.parameters = parameters


class ParsedRequest:
    """An inference request, checked: ``outputs`` is ``None`` when the client asked for all."""

    __slots__ = ("binary_output", "id", "inputs", "outputs", "parameters", "size", "typed")

    def __init__(
        self,
        request_id: str,
        parameters: dict[str, Any] | None,
        inputs: list[InputTensor],
        outputs: list[RequestedOutput] | None,
        binary_output: bool = False,
        typed: bool = False,
    ) -> None:
        self.id = request_id
        self.parameters = parameters
        self.inputs = inputs
        self.outputs = outputs
        #: REST: ``parameters.binary_data_output`` (outputs binary unless they say otherwise)
        self.binary_output = binary_output
        #: gRPC: inputs came as typed ``contents``, so outputs go back the same way
        self.typed = typed
        #: bytes of tensor data received (for metrics)
        self.size = 0
