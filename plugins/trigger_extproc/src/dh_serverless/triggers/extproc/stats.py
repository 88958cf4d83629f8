"""Per-phase metrics of one extproc trigger, on the runtime's ``/metrics``.

Families (labels ``trigger``, ``type``, and ``phase`` where it applies):

* ``dh_extproc_messages_total{..., phase, outcome}``: ProcessingRequests by what the
  trigger did: ``continue`` (unchanged), ``mutated``, ``immediate``, ``error``, ``busy``,
  ``timeout``, ``shutdown`` (the handler could not answer: see ``onError``),
  ``over_limit``, ``observed`` (observer: queued), ``dropped`` (observer queue full),
  ``late_immediate`` (an immediate answer asked after the status was sent), ``invalid``.
* ``dh_extproc_handler_seconds{..., phase}``: time in the handler (dispatch), per phase.
* ``dh_extproc_message_seconds{..., phase}``: message in to reply ready, per phase.
* ``dh_extproc_streams_total`` / ``dh_extproc_streams_active``: gRPC streams (requests).
* ``dh_extproc_observe_queued``: observer events waiting for a worker.

Families are made at start-up and cells on first use; the stream path then only looks a
cell up in a dict and calls ``inc`` or ``observe``.
"""

from __future__ import annotations

from typing import Any

__all__ = ("OUTCOMES", "PHASES", "TriggerStats")

#: ProcessingRequest oneof name -> the ``processing-phase`` number.
PHASES = {
    "request_headers": 1,
    "request_body": 2,
    "request_trailers": 3,
    "response_headers": 4,
    "response_body": 5,
    "response_trailers": 6,
}
OUTCOMES = (
    "continue",
    "mutated",
    "immediate",
    "error",
    "busy",
    "timeout",
    "shutdown",
    "over_limit",
    "observed",
    "dropped",
    "late_immediate",
    "invalid",
)
_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
)


class _Cells(dict[Any, Any]):
    """Cells of one family by their last label values, made on first use (a series shows
    up once it happened; afterwards a lookup is one dict access)."""

    def __init__(self, family: Any, prefix: tuple[str, ...]) -> None:
        super().__init__()
        self.family = family
        self.prefix = prefix

    def __missing__(self, key: Any) -> Any:
        values = key if isinstance(key, tuple) else (key,)
        cell = self[key] = self.family.labels(*self.prefix, *values)
        return cell


class TriggerStats:
    """The cells of one trigger: ``messages[(phase, outcome)]``, ``handler[phase]``,
    ``message[phase]``, ``streams``, ``active``, ``queued``."""

    __slots__ = ("active", "handler", "message", "messages", "queued", "streams")

    def __init__(self, metrics: Any, trigger: str, processor_type: str) -> None:
        key = (trigger, processor_type)
        messages = metrics.counter(
            "dh_extproc_messages",
            "ext_proc messages by phase and what the trigger did",
            ("trigger", "type", "phase", "outcome"),
        )
        handler = metrics.histogram(
            "dh_extproc_handler_seconds",
            "Time in the handler per ext_proc phase",
            ("trigger", "type", "phase"),
            buckets=_BUCKETS,
        )
        message = metrics.histogram(
            "dh_extproc_message_seconds",
            "Time from an ext_proc message to its reply being ready, per phase",
            ("trigger", "type", "phase"),
            buckets=_BUCKETS,
        )
        self.messages: _Cells = _Cells(messages, key)
        self.handler: _Cells = _Cells(handler, key)
        self.message: _Cells = _Cells(message, key)
        self.streams = metrics.counter(
            "dh_extproc_streams", "ext_proc streams (HTTP requests) started", ("trigger", "type")
        ).labels(*key)
        self.active = metrics.gauge(
            "dh_extproc_streams_active", "ext_proc streams open now", ("trigger", "type")
        ).labels(*key)
        self.queued = metrics.gauge(
            "dh_extproc_observe_queued",
            "observeprocessor events waiting for a worker",
            ("trigger", "type"),
        ).labels(*key)
