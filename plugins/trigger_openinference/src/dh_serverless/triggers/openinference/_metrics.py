"""Per-model metrics on the runtime's one ``/metrics``, as cells kept from start-up.

- ``dh_openinference_requests_total{model, protocol, outcome}``: ``ok``, ``invalid``
  (400), ``not_found`` (404), ``error`` (the handler failed: 500), ``busy`` (503),
  ``timeout`` (504), ``unavailable`` (shutting down, worker lost);
- ``dh_openinference_infer_seconds{model, protocol}``: from the request read to the
  answer encoded, for inference requests the handler ran on;
- ``dh_openinference_bytes_total{model, protocol, direction}``: inference bodies
  received (``in``) and sent (``out``); on gRPC the raw tensor contents (the message size
  for typed contents).
"""

from __future__ import annotations

from dh_serverless.hookspecs import (
    DispatchError,
    EventTimeoutError,
    Metrics,
    ShuttingDownError,
    WorkerBusyError,
    WorkerLostError,
)
from dh_serverless.hookspecs.metrics import CounterCell, HistogramCell

__all__ = ("OUTCOMES", "ProtocolMetrics", "dispatch_outcome")

OUTCOMES = ("ok", "invalid", "not_found", "error", "busy", "timeout", "unavailable")
_BUCKETS = (0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)
_DISPATCH = {
    WorkerBusyError: "busy",
    EventTimeoutError: "timeout",
    ShuttingDownError: "unavailable",
    WorkerLostError: "unavailable",
}


def dispatch_outcome(error: DispatchError) -> str:
    """The outcome label of a ``DispatchError``."""
    return _DISPATCH.get(type(error), "error")


class ProtocolMetrics:
    """The cells of one model on one protocol: ``outcome[name].inc()``, ``seconds.observe``,
    ``bytes_in.inc(n)``, ``bytes_out.inc(n)``."""

    __slots__ = ("bytes_in", "bytes_out", "outcome", "seconds")

    def __init__(self, metrics: Metrics, model: str, protocol: str) -> None:
        requests = metrics.counter(
            "dh_openinference_requests",
            "Open Inference requests by model, protocol and outcome",
            ("model", "protocol", "outcome"),
        )
        self.outcome: dict[str, CounterCell] = {
            name: requests.labels(model, protocol, name) for name in OUTCOMES
        }
        self.seconds: HistogramCell = metrics.histogram(
            "dh_openinference_infer_seconds",
            "Inference requests: time from the request read to the answer encoded",
            ("model", "protocol"),
            buckets=_BUCKETS,
        ).labels(model, protocol)
        traffic = metrics.counter(
            "dh_openinference_bytes",
            "Inference body bytes received (in) and sent (out)",
            ("model", "protocol", "direction"),
        )
        self.bytes_in: CounterCell = traffic.labels(model, protocol, "in")
        self.bytes_out: CounterCell = traffic.labels(model, protocol, "out")
