"""The ``attributes`` of an ``openinference`` trigger.

``function.yaml``::

    triggers:
      model:
        kind: openinference
        maxWorkers: 4
        attributes:
          model_name: my-model
          model_version: "1"
          rest_port: 8080
          grpc_port: 9000
          input_tensors:
            - {name: INPUT0, datatype: FP32, shape: [-1, 16]}
          output_tensors:
            - {name: OUTPUT0, datatype: FP32, shape: [-1, 16]}

Keys match ignoring case and underscores (``model_name``, ``modelName``), so the original's
snake_case keys load, and so does its tensor key ``data_type`` (read as ``datatype``).
"""

from __future__ import annotations

import difflib
from typing import Any, Literal

import attrs

from dh_serverless.core.api import display_key
from dh_serverless.triggers.openinference.datatypes import DATATYPES

__all__ = (
    "DEFAULT_MAX_MESSAGE_BYTES",
    "DEFAULT_MAX_REQUEST_BODY_SIZE",
    "OpenInferenceAttributes",
    "TensorSpec",
)

DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024  #: gRPC messages, both ways (gRPC's own: 4 MiB)
DEFAULT_MAX_REQUEST_BODY_SIZE = 256 * 1024 * 1024  #: REST request bodies


def _datatype(value: str) -> str:
    return value.strip().upper()


# attrs validators run after cattrs placed the value: each message names its own key.


def _check_datatype(_: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in DATATYPES:
        close = difflib.get_close_matches(value, list(DATATYPES), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; valid: {', '.join(DATATYPES)}"
        raise ValueError(f"{display_key(attribute.name)}: unknown datatype {value!r}{hint}")


def _check_shape(_: Any, attribute: attrs.Attribute[Any], value: tuple[int, ...]) -> None:
    for dim in value:
        if dim < -1:
            raise ValueError(
                f"{display_key(attribute.name)}: {list(value)}: each dimension is a size "
                "(0 or more) or -1 (variable)"
            )


def _check_port(_: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if not 0 <= value <= 65535:
        raise ValueError(
            f"{display_key(attribute.name)}: must be between 1 and 65535 (0: any free port), "
            f"got {value}"
        )


def _check_size(_: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1024:
        raise ValueError(f"{display_key(attribute.name)}: must be at least 1024 bytes, got {value}")


def _check_name(_: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if not value.strip():
        raise ValueError(f"{display_key(attribute.name)}: must not be empty")


@attrs.frozen
class TensorSpec:
    """One declared input or output: ``name``, ``datatype`` and ``shape`` (-1: any size).

    A tensor declared without a name (DH Core writes outputs that way) is named by its
    position: ``input-0``, ``output-1``, ...
    """

    datatype: str = attrs.field(converter=_datatype, validator=_check_datatype)
    name: str = ""
    shape: tuple[int, ...] = attrs.field(default=(), validator=_check_shape)

    def accepts(self, shape: tuple[int, ...] | list[int]) -> bool:
        """Whether a tensor of ``shape`` fits this declaration."""
        if len(shape) != len(self.shape):
            return False
        return all(d == -1 or d == s for d, s in zip(self.shape, shape, strict=True))

    def as_json(self) -> dict[str, Any]:
        """The metadata form: ``{"name", "datatype", "shape"}``."""
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


def _named(value: tuple[TensorSpec, ...], prefix: str) -> tuple[TensorSpec, ...]:
    return tuple(
        t if t.name.strip() else attrs.evolve(t, name=f"{prefix}-{i}") for i, t in enumerate(value)
    )


def _name_inputs(value: tuple[TensorSpec, ...]) -> tuple[TensorSpec, ...]:
    return _named(value, "input")


def _name_outputs(value: tuple[TensorSpec, ...]) -> tuple[TensorSpec, ...]:
    return _named(value, "output")


def _unique_names(
    _: Any, attribute: attrs.Attribute[tuple[TensorSpec, ...]], value: tuple[TensorSpec, ...]
) -> None:
    seen: set[str] = set()
    for tensor in value:
        if tensor.name in seen:
            raise ValueError(
                f"{display_key(attribute.name)}: tensor {tensor.name!r} is declared twice"
            )
        seen.add(tensor.name)


@attrs.frozen
class OpenInferenceAttributes:
    """``spec.triggers.<name>.attributes`` of an ``openinference`` trigger.

    :param model_name: the model's name in URLs and gRPC requests (``model`` when unset, as
        the original).
    :param model_version: its version; ``/versions/<v>`` paths must name it.
    :param host: the address both servers listen on.
    :param rest_port: REST port (``0``: any free port).
    :param grpc_port: gRPC port (``0``: any free port).
    :param enable_rest: serve REST; at least one of REST and gRPC must be on.
    :param enable_grpc: serve gRPC.
    :param input_tensors: the inputs a request must carry; empty: any inputs.
    :param output_tensors: the outputs the handler returns; empty: whatever it returns.
    :param tensors: what the handler gets in ``event.body``: ``lists`` (the original's
        dict of ``data`` lists) or ``numpy`` (an :class:`InferenceRequest` of arrays).
    :param max_request_body_size: the largest REST request body, in bytes (413 beyond).
    :param max_message_bytes: the largest gRPC message, in bytes, both ways.
    :param platform: the ``platform`` reported in model metadata.
    :param server_name: the ``name`` in server metadata (the original's name by default).
    :param server_version: the ``version`` in server metadata.
    """

    model_name: str = attrs.field(default="model", validator=_check_name)
    model_version: str = "1"
    host: str = "0.0.0.0"
    rest_port: int = attrs.field(default=8080, validator=_check_port)
    grpc_port: int = attrs.field(default=9000, validator=_check_port)
    enable_rest: bool = True
    enable_grpc: bool = True
    input_tensors: tuple[TensorSpec, ...] = attrs.field(
        default=(), converter=_name_inputs, validator=_unique_names
    )
    output_tensors: tuple[TensorSpec, ...] = attrs.field(
        default=(), converter=_name_outputs, validator=_unique_names
    )
    tensors: Literal["lists", "numpy"] = "lists"
    max_request_body_size: int = attrs.field(
        default=DEFAULT_MAX_REQUEST_BODY_SIZE, validator=_check_size
    )
    max_message_bytes: int = attrs.field(default=DEFAULT_MAX_MESSAGE_BYTES, validator=_check_size)
    platform: str = "python"
    server_name: str = "digitalhub-serverless"
    server_version: str = "1.0.0"

    def __attrs_post_init__(self) -> None:
        if not (self.enable_rest or self.enable_grpc):
            raise ValueError("enableRest and enableGrpc are both false: turn at least one on")
        if (
            self.enable_rest
            and self.enable_grpc
            and self.rest_port == self.grpc_port
            and self.rest_port != 0
        ):
            raise ValueError(
                f"restPort and grpcPort are both {self.rest_port}: give them different ports"
            )
