"""The trigger's families on the runtime's ``/metrics``, and its cells kept for the hot path.

=============================================  ============================================
``dh_websocket_trigger_clients``               clients connected now
``dh_websocket_trigger_messages_total``        messages received from clients
``dh_websocket_trigger_received_bytes_total``  bytes of those messages
``dh_websocket_trigger_events_total``          events handed to the handler
``dh_websocket_trigger_answers_total``         answers sent back to a client
``dh_websocket_trigger_dropped_total``         by ``reason``: ``superseded`` (discrete: a
                                               newer message replaced it before it was
                                               handled), ``failed`` (no worker, timeout,
                                               worker lost), ``unsent`` (the client left
                                               before its answer)
``dh_websocket_trigger_dropped_bytes_total``   stream mode: bytes trimmed from a buffer
                                               before the handler was given them
``dh_websocket_trigger_closed_total``          clients closed by the trigger, by
                                               ``reason``: ``too_many_clients`` (1013),
                                               ``too_big`` (1009), ``malformed`` (1002,
                                               1007), ``shutting_down`` (1001)
=============================================  ============================================
"""

from __future__ import annotations

from collections.abc import Callable

from dh_serverless.hookspecs import Metrics

__all__ = ("CLOSE_REASONS", "TriggerMetrics")

CLOSE_REASONS = ("too_many_clients", "too_big", "malformed", "shutting_down")


class TriggerMetrics:
    """Cells of one trigger, created once at start-up from ``spec.metrics``."""

    def __init__(self, registry: Metrics, trigger: str, clients: Callable[[], float]) -> None:
        registry.gauge(
            "dh_websocket_trigger_clients", "WebSocket clients connected now", ("trigger",)
        ).labels(trigger).set_function(clients)
        self.messages = registry.counter(
            "dh_websocket_trigger_messages", "Messages received from clients", ("trigger",)
        ).labels(trigger)
        self.received_bytes = registry.counter(
            "dh_websocket_trigger_received_bytes", "Bytes of the messages received", ("trigger",)
        ).labels(trigger)
        self.events = registry.counter(
            "dh_websocket_trigger_events", "Events handed to the handler", ("trigger",)
        ).labels(trigger)
        self.answers = registry.counter(
            "dh_websocket_trigger_answers", "Answers sent back to a client", ("trigger",)
        ).labels(trigger)
        dropped = registry.counter(
            "dh_websocket_trigger_dropped", "Messages or events not handled, by reason",
            ("trigger", "reason"),
        )  # fmt: skip
        self.superseded = dropped.labels(trigger, "superseded")
        self.failed = dropped.labels(trigger, "failed")
        self.unsent = dropped.labels(trigger, "unsent")
        self.dropped_bytes = registry.counter(
            "dh_websocket_trigger_dropped_bytes",
            "Stream bytes trimmed from a buffer before the handler was given them",
            ("trigger",),
        ).labels(trigger)
        closed = registry.counter(
            "dh_websocket_trigger_closed", "Clients closed by the trigger, by reason",
            ("trigger", "reason"),
        )  # fmt: skip
        self.closed = {reason: closed.labels(trigger, reason) for reason in CLOSE_REASONS}
