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

from dh_serverless.core.api import Duration, display_key
from dh_serverless.triggers.openinference.datatypes import DATATYPES

__all__ = (
    "DEFAULT_MAX_BYTES_IN_FLIGHT",
    "DEFAULT_MAX_LIST_ELEMENTS",
    "DEFAULT_MAX_MESSAGE_BYTES",
    "DEFAULT_MAX_REQUEST_BODY_SIZE",
    "OpenInferenceAttributes",
    "TensorSpec",
)

DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024  #: gRPC messages, both ways (gRPC's own: 4 MiB)
DEFAULT_MAX_REQUEST_BODY_SIZE = 256 * 1024 * 1024  #: REST request bodies
DEFAULT_MAX_BYTES_IN_FLIGHT = 512 * 1024 * 1024  #: request bytes held at once
DEFAULT_MAX_LIST_ELEMENTS = 16 * 1024 * 1024  #: elements of a ``tensors: lists`` body
DEFAULT_MAX_QUEUE_SIZE = 1024  #: requests waiting for a batch (dynamic batching)


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


def _check_batch_size(_: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 0:
        raise ValueError(f"{display_key(attribute.name)}: must be 0 (off) or more, got {value}")


def _check_delay(_: Any, attribute: attrs.Attribute[Duration], value: Duration) -> None:
    if not 0 <= value <= 60:
        raise ValueError(
            f"{display_key(attribute.name)}: must be between 0 and 60s (such as '2ms'), "
            f"got {value:g}s"
        )


def _check_queue(_: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"{display_key(attribute.name)}: must be at least 1, got {value}")


def _sorted_sizes(value: Any) -> tuple[int, ...]:
    return tuple(sorted(set(value)))


def _check_batching(attributes: OpenInferenceAttributes) -> None:
    """With batching on, sizes fit ``maxBatchSize`` and declared shapes lead with -1."""
    limit = attributes.max_batch_size
    for size in attributes.preferred_batch_sizes:
        if not 1 <= size <= limit:
            raise ValueError(
                f"preferredBatchSizes: {size} is not between 1 and maxBatchSize ({limit})"
            )
    for key, tensors in (
        ("inputTensors", attributes.input_tensors),
        ("outputTensors", attributes.output_tensors),
    ):
        for tensor in tensors:
            if not tensor.shape or tensor.shape[0] != -1:
                raise ValueError(
                    f"{key}: {tensor.name!r} has shape {list(tensor.shape)}; with maxBatchSize "
                    f"the first dimension is the batch and must be -1: "
                    f"{[-1, *tensor.shape[1:]] if tensor.shape else [-1]}"
                )


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
    :param max_bytes_in_flight: request bytes received and handled at once, REST and gRPC
        together (503 / ``RESOURCE_EXHAUSTED`` beyond).
    :param max_list_elements: with ``tensors: lists``, the most tensor elements one
        request's inputs may hold (413 / ``RESOURCE_EXHAUSTED`` beyond).
    :param platform: the ``platform`` reported in model metadata.
    :param server_name: the ``name`` in server metadata (the original's name by default).
    :param server_version: the ``version`` in server metadata.
    :param max_batch_size: dynamic batching: the most rows (first dimension of every
        input) one handler call gets; 0 or 1: off (Triton's ``max_batch_size``, MLServer's
        ``max_batch_size``).
    :param max_queue_delay: how long the first request of a batch may wait for more
        (Triton's ``max_queue_delay_microseconds``, MLServer's ``max_batch_time``).
    :param preferred_batch_sizes: batch sizes sent as soon as they can be formed, without
        waiting for ``max_queue_delay`` (Triton's ``preferred_batch_size``).
    :param max_queue_size: the most requests waiting for a batch; beyond, 503 /
        ``UNAVAILABLE`` at once (Triton's ``default_queue_policy.max_queue_size``).
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
    max_bytes_in_flight: int = attrs.field(
        default=DEFAULT_MAX_BYTES_IN_FLIGHT, validator=_check_size
    )
    max_list_elements: int = attrs.field(default=DEFAULT_MAX_LIST_ELEMENTS, validator=_check_size)
    platform: str = "python"
    server_name: str = "digitalhub-serverless"
    server_version: str = "1.0.0"
    max_batch_size: int = attrs.field(default=0, validator=_check_batch_size)
    max_queue_delay: Duration = attrs.field(default=Duration(0.0), validator=_check_delay)
    preferred_batch_sizes: tuple[int, ...] = attrs.field(default=(), converter=_sorted_sizes)
    max_queue_size: int = attrs.field(default=DEFAULT_MAX_QUEUE_SIZE, validator=_check_queue)

    @property
    def batching(self) -> bool:
        """Whether dynamic batching is on (``max_batch_size`` above 1)."""
        return self.max_batch_size > 1

    def __attrs_post_init__(self) -> None:
        if self.batching:
            _check_batching(self)
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
