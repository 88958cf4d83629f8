"""dh-trigger-extproc: Envoy External Processing for dh-serverless, on grpc.aio.

Registered under the ``dh_serverless.triggers`` entry-point group as ``extproc``: a function
becomes a pre-, post-, observe- or wrap-processor of the traffic of a service behind Envoy.
"""

from __future__ import annotations

from dh_serverless.triggers.extproc.config import ExtprocAttributes, ProcessingOptions
from dh_serverless.triggers.extproc.result import (
    PROCESSING_STATUS,
    HandlerAnswer,
    convert_result,
)
from dh_serverless.triggers.extproc.trigger import (
    SERVICE_NAME,
    ExtprocTrigger,
    dh_register_converters,
)
from dh_serverless.triggers.extproc.version import __version__

__all__ = (
    "PROCESSING_STATUS",
    "SERVICE_NAME",
    "ExtprocAttributes",
    "ExtprocTrigger",
    "HandlerAnswer",
    "ProcessingOptions",
    "__version__",
    "convert_result",
    "dh_register_converters",
)
