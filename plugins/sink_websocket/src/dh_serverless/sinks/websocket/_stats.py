"""The websocket sink's families on ``/metrics``, created once at start-up."""

from __future__ import annotations

from dh_serverless.hookspecs import SinkSpec
from dh_serverless.hookspecs.metrics import CounterCell, GaugeCell

__all__ = ("DROP_REASONS", "WebsocketStats")

#: why a message was not sent: a server-mode client too slow to keep up, no connection
#: (client mode), a send that failed or timed out, a ``text`` result that is not UTF-8.
DROP_REASONS = ("slow_client", "disconnected", "send_failed", "not_text")


class WebsocketStats:
    """Cells of ``dh_websocket_*`` for one sink (label ``trigger``).

    ``dh_websocket_sent_total`` (messages sent; one per client in server mode),
    ``dh_websocket_dropped_total{reason}``, ``dh_websocket_clients`` (server: clients
    connected; client: 1 while connected), ``dh_websocket_dials_total{outcome}`` (client
    mode: ``ok``, ``failed``).
    """

    __slots__ = ("clients", "dial_failed", "dial_ok", "dropped", "sent")

    def __init__(self, spec: SinkSpec) -> None:
        m = spec.metrics
        trigger = spec.trigger
        self.sent: CounterCell = m.counter(
            "dh_websocket_sent", "Messages a websocket sink sent", ("trigger",)
        ).labels(trigger)
        dropped = m.counter(
            "dh_websocket_dropped", "Messages a websocket sink did not send", ("trigger", "reason")
        )
        self.dropped: dict[str, CounterCell] = {r: dropped.labels(trigger, r) for r in DROP_REASONS}
        self.clients: GaugeCell = m.gauge(
            "dh_websocket_clients", "WebSocket peers connected", ("trigger",)
        ).labels(trigger)
        dials = m.counter(
            "dh_websocket_dials",
            "Connection attempts of a client-mode sink",
            ("trigger", "outcome"),
        )
        self.dial_ok: CounterCell = dials.labels(trigger, "ok")
        self.dial_failed: CounterCell = dials.labels(trigger, "failed")
