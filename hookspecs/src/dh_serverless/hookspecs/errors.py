"""Why ``dispatch(event)`` could not produce a handler's response.

A handler that raises does not raise here: the core turns it into a 500 ``Response``
as Nuclio does. These errors are the runtime's own answers, which each trigger maps
to its protocol (http: the ``status_code`` below; gRPC: a status code).
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


class WorkerBusyError(DispatchError):
    """Every worker stayed busy for ``workerAvailabilityTimeoutMilliseconds``."""

    status_code = 503


class ShuttingDownError(DispatchError):
    """The runtime is draining and takes no new events."""

    status_code = 503


class EventTimeoutError(DispatchError):
    """The handler ran longer than ``spec.eventTimeout``."""

    status_code = 504


class WorkerLostError(DispatchError):
    """The worker died (process killed, crashed) while it held the event."""

    status_code = 500
