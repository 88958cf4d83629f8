"""dh-trigger-openinference: serve a function as a model over the Open Inference Protocol.

Registered under the ``dh_serverless.triggers`` entry-point group as ``openinference``.
Handlers import :class:`InferenceRequest` (``tensors: numpy``) or read the original's
dict body (``tensors: lists``); see the package README.
"""

from __future__ import annotations

from dh_serverless.triggers.openinference._batching import Batch, BatchedRequest
from dh_serverless.triggers.openinference.bodies import InferenceRequest, RequestBody
from dh_serverless.triggers.openinference.config import OpenInferenceAttributes, TensorSpec
from dh_serverless.triggers.openinference.results import InferenceResult, OutputTensor, to_result
from dh_serverless.triggers.openinference.trigger import OpenInferenceTrigger
from dh_serverless.triggers.openinference.version import __version__

__all__ = (
    "Batch",
    "BatchedRequest",
    "InferenceRequest",
    "InferenceResult",
    "OpenInferenceAttributes",
    "OpenInferenceTrigger",
    "OutputTensor",
    "RequestBody",
    "TensorSpec",
    "__version__",
    "to_result",
)
