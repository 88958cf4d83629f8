"""Why ``dispatch(event)`` could not produce a handler's response.

A handler that raises does not raise here: the core turns it into a 500 ``Response``
as Nuclio does. These errors are the runtime's own answers. Each carries everything a
trigger needs to answer it, so that every trigger maps them the same way, subclasses
included: ``status_code`` (HTTP), ``grpc_status`` (the name of a ``grpc.StatusCode``),
``outcome`` (the ``outcome`` label of ``dh_events_total``) and ``default_message`` (for
an error raised without one).

| error | HTTP | gRPC | outcome |
|---|---|---|---|
| ``WorkerBusyError`` | 503 | ``RESOURCE_EXHAUSTED`` | ``busy`` |
| ``ShuttingDownError`` | 503 | ``UNAVAILABLE`` | ``shutdown`` |
| ``EventTimeoutError`` | 504 | ``DEADLINE_EXCEEDED`` | ``timeout`` |
| ``WorkerLostError`` | 500 | ``INTERNAL`` | ``lost`` |
"""

from __future__ import annotations

__all__ = (
    "DispatchError",
    "EventTimeoutError",
    "ShuttingDownError",
    "WorkerBusyError",
    "WorkerLostError",
)


class DispatchError(Exception):
    """Base class: the event was not handled; ``status_code`` is the HTTP answer."""

    status_code = 500
    grpc_status = "INTERNAL"
    outcome = "error"
    default_message = "dispatch failed"

    @property
    def message(self) -> str:
        """The text to answer with: the error's own, or the default of its class."""
        return str(self) or self.default_message


class WorkerBusyError(DispatchError):
    """Every worker stayed busy for ``workerAvailabilityTimeoutMilliseconds``."""

    status_code = 503
    grpc_status = "RESOURCE_EXHAUSTED"
    outcome = "busy"
    default_message = "no worker available"


class ShuttingDownError(DispatchError):
    """The runtime is draining and takes no new events."""

    status_code = 503
    grpc_status = "UNAVAILABLE"
    outcome = "shutdown"
    default_message = "shutting down"


class EventTimeoutError(DispatchError):
    """The handler ran longer than ``spec.eventTimeout``."""

    status_code = 504
    grpc_status = "DEADLINE_EXCEEDED"
    outcome = "timeout"
    default_message = "handler timed out"


class WorkerLostError(DispatchError):
    """The worker died (process killed, crashed) while it held the event."""

    status_code = 500
    grpc_status = "INTERNAL"
    outcome = "lost"
    default_message = "worker lost while handling the event"
