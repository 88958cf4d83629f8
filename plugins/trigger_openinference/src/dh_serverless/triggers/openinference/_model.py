"""The served model: its declared tensors, the checks they imply, and its static answers.

Inputs are checked before the handler runs (unknown input, wrong datatype or shape,
missing input, unknown requested output: 400). Outputs are matched after it ran: unnamed
outputs take the declared names in order, declared outputs are cast to their declared
datatype, and the requested subset is picked in the order asked for.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from dh_serverless.triggers.openinference._request import ParsedRequest, RequestError
from dh_serverless.triggers.openinference.config import OpenInferenceAttributes, TensorSpec
from dh_serverless.triggers.openinference.datatypes import DATATYPES
from dh_serverless.triggers.openinference.results import InferenceResult, OutputTensor

__all__ = ("EXTENSIONS", "HandlerOutputError", "Model")

#: what ``GET /v2`` and ``ServerMetadata`` list
EXTENSIONS = ("binary_tensor_data", "parameters")


class HandlerOutputError(Exception):
    """The handler's outputs do not fit the model's declaration (answered 500)."""


class Model:
    """One model as the attributes declare it, with precomputed metadata answers."""

    def __init__(self, attributes: OpenInferenceAttributes) -> None:
        self.name = attributes.model_name
        self.version = attributes.model_version
        self.inputs: dict[str, TensorSpec] = {t.name: t for t in attributes.input_tensors}
        self.outputs: list[TensorSpec] = list(attributes.output_tensors)
        self.output_specs: dict[str, TensorSpec] = {t.name: t for t in self.outputs}
        self.metadata: dict[str, Any] = {
            "name": self.name,
            "versions": [self.version],
            "platform": attributes.platform,
            "inputs": [t.as_json() for t in attributes.input_tensors],
            "outputs": [t.as_json() for t in attributes.output_tensors],
        }
        self.metadata_json = orjson.dumps(self.metadata)
        self.ready_json = orjson.dumps({"name": self.name, "ready": True})
        self.server_metadata: dict[str, Any] = {
            "name": attributes.server_name,
            "version": attributes.server_version,
            "extensions": list(EXTENSIONS),
        }
        self.server_metadata_json = orjson.dumps(self.server_metadata)

    def serves(self, name: str, version: str | None) -> bool:
        """Whether ``name`` (and ``version``, unless empty or None) is this model."""
        return name == self.name and (not version or version == self.version)

    def not_found(self, name: str, version: str | None) -> RequestError:
        """The 404 for a model or version this trigger does not serve."""
        if name != self.name:
            return RequestError(404, f"unknown model {name!r}; this server serves {self.name!r}")
        return RequestError(
            404, f"unknown version {version!r} of model {name!r}; it has version {self.version!r}"
        )

    def check(self, request: ParsedRequest) -> None:
        """Check the inputs and requested outputs against the declaration (400 if not)."""
        declared = self.inputs
        if declared:
            for tensor in request.inputs:
                spec = declared.get(tensor.name)
                if spec is None:
                    raise RequestError(
                        400,
                        f"unknown input {tensor.name!r}; the model's inputs are "
                        f"{', '.join(repr(n) for n in declared)}",
                    )
                if tensor.datatype != spec.datatype:
                    raise RequestError(
                        400,
                        f"input {tensor.name!r} has datatype {tensor.datatype}; "
                        f"the model expects {spec.datatype}",
                    )
                if not spec.accepts(tensor.shape):
                    raise RequestError(
                        400,
                        f"input {tensor.name!r} has shape {tensor.shape}; "
                        f"the model expects {list(spec.shape)} (-1: any size)",
                    )
            if len(request.inputs) != len(declared):
                given = {t.name for t in request.inputs}
                missing = [n for n in declared if n not in given]
                raise RequestError(400, f"missing input(s): {', '.join(map(repr, missing))}")
        if request.outputs is not None and self.outputs:
            for output in request.outputs:
                if output.name not in self.output_specs:
                    raise RequestError(
                        400,
                        f"unknown output {output.name!r}; the model's outputs are "
                        f"{', '.join(repr(t.name) for t in self.outputs)}",
                    )

    def finish(self, result: InferenceResult, request: ParsedRequest) -> list[OutputTensor]:
        """The outputs to send, named, cast and picked as the request asked."""
        declared = self.outputs
        tensors = result.outputs
        by_name: dict[str, OutputTensor] = {}
        for index, tensor in enumerate(tensors):
            if tensor.name is None:
                if index < len(declared):
                    tensor.name = declared[index].name
                elif declared:
                    raise HandlerOutputError(
                        f"the handler returned {len(tensors)} outputs; the model declares "
                        f"{len(declared)}"
                    )
                else:
                    tensor.name = f"OUTPUT{index}"
            spec = self.output_specs.get(tensor.name)
            if spec is not None:
                _conform(tensor, spec)
            by_name[tensor.name] = tensor
        if request.outputs is None:
            return list(by_name.values())
        picked = []
        for output in request.outputs:
            found = by_name.get(output.name)
            if found is None:
                if output.name in self.output_specs:
                    raise HandlerOutputError(f"the handler did not return output {output.name!r}")
                raise RequestError(
                    400,
                    f"unknown output {output.name!r}; the model returned "
                    f"{', '.join(repr(n) for n in by_name) or 'no outputs'}",
                )
            picked.append(found)
        return picked


def _conform(tensor: OutputTensor, spec: TensorSpec) -> None:
    if tensor.datatype != spec.datatype:
        if "BYTES" in (tensor.datatype, spec.datatype):
            raise HandlerOutputError(
                f"output {spec.name!r} is {tensor.datatype}; the model declares {spec.datatype}"
            )
        tensor.array = np.asarray(tensor.array, dtype=DATATYPES[spec.datatype])
        tensor.datatype = spec.datatype
    shape = tensor.array.shape
    if not spec.accepts(shape):
        raise HandlerOutputError(
            f"output {spec.name!r} has shape {list(shape)}; the model declares "
            f"{list(spec.shape)} (-1: any size)"
        )
