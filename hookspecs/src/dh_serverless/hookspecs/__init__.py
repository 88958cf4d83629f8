"""Hook markers, protocols and types for dh-serverless plugins.

Plugin authors import from here::

    from dh_serverless.hookspecs import impl, Event, Response, TriggerSpec
"""

from __future__ import annotations

import pluggy

from dh_serverless.hookspecs.errors import (
    DispatchError,
    EventTimeoutError,
    ShuttingDownError,
    WorkerBusyError,
    WorkerLostError,
)
from dh_serverless.hookspecs.metrics import Metrics
from dh_serverless.hookspecs.protocols import (
    FunctionInfo,
    ResultConverter,
    ServingProcesses,
    Sink,
    SinkSpec,
    Trigger,
    TriggerOptions,
    TriggerSpec,
)
from dh_serverless.hookspecs.types import (
    CallNext,
    Converted,
    Dispatch,
    Event,
    Middleware,
    Response,
    TriggerInfo,
)

NAME = "dh_serverless"  #: project name shared by both markers
impl = pluggy.HookimplMarker(NAME)  #: the decorator plugin authors import

__all__ = (
    "NAME",
    "CallNext",
    "Converted",
    "Dispatch",
    "DispatchError",
    "Event",
    "EventTimeoutError",
    "FunctionInfo",
    "Metrics",
    "Middleware",
    "Response",
    "ResultConverter",
    "ServingProcesses",
    "ShuttingDownError",
    "Sink",
    "SinkSpec",
    "Trigger",
    "TriggerInfo",
    "TriggerOptions",
    "TriggerSpec",
    "WorkerBusyError",
    "WorkerLostError",
    "impl",
)
