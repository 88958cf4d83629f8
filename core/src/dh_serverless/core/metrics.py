"""Counters for ``/metrics``, kept as plain numbers on the hot path.

prometheus-client's own metrics take a lock and a label lookup per update; an event
updates about six numbers, so the core keeps them in slotted objects and a custom
collector turns them into Prometheus families only when ``/metrics`` is scraped.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

__all__ = ("EventStats", "Histogram", "RuntimeCollector", "SinkStats", "make_registry")

_DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
#: Outcomes of an event: answered by the handler (``ok`` below 500, ``error`` from 500),
#: or by the runtime (``busy``, ``timeout``, ``lost``, ``shutdown``).
OUTCOMES = ("ok", "error", "busy", "timeout", "lost", "shutdown")


class Histogram:
    """Bucket counts, a sum and a count; ``observe`` is a bisect and two additions."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...] = _DURATION_BUCKETS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def cumulative(self) -> list[tuple[str, int]]:
        total, out = 0, []
        for bound, count in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            total += count
            out.append((bound, total))
        return out


class EventStats:
    """What happened to the events of one trigger, and the state of its workers."""

    __slots__ = (
        "bytes_in",
        "bytes_out",
        "duration",
        "events",
        "kind",
        "restarts",
        "trigger",
        "wait",
        "workers_busy",
        "workers_total",
    )

    def __init__(self, trigger: str, kind: str) -> None:
        self.trigger = trigger
        self.kind = kind
        self.events = dict.fromkeys(OUTCOMES, 0)
        self.duration = Histogram()
        self.wait = Histogram()
        self.bytes_in = 0
        self.bytes_out = 0
        self.workers_busy = 0
        self.workers_total = 0
        self.restarts: dict[str, int] = {}


class SinkStats:
    """Items a sink emitted, dropped (queue full) and failed to emit."""

    __slots__ = ("dropped", "emitted", "failed", "kind", "queued", "trigger")

    def __init__(self, trigger: str, kind: str) -> None:
        self.trigger = trigger
        self.kind = kind
        self.emitted = 0
        self.dropped = 0
        self.failed = 0
        self.queued = 0


class RuntimeCollector(Collector):
    """Turns every :class:`EventStats` and :class:`SinkStats` into Prometheus families."""

    def __init__(self) -> None:
        self.events: list[EventStats] = []
        self.sinks: list[SinkStats] = []

    def collect(self) -> Iterator[Metric]:
        labels = ["trigger", "kind"]
        events = CounterMetricFamily(
            "dh_events", "Events by trigger and outcome", labels=[*labels, "outcome"]
        )
        duration = HistogramMetricFamily(
            "dh_handler_duration_seconds", "Time in the handler", labels=labels
        )
        wait = HistogramMetricFamily(
            "dh_worker_wait_seconds", "Time an event waited for a worker", labels=labels
        )
        busy = GaugeMetricFamily("dh_workers_busy", "Workers handling an event", labels=labels)
        total = GaugeMetricFamily("dh_workers", "Workers configured", labels=labels)
        restarts = CounterMetricFamily(
            "dh_worker_restarts", "Workers replaced", labels=[*labels, "reason"]
        )
        bytes_in = CounterMetricFamily(
            "dh_event_bytes_received", "Event body bytes in", labels=labels
        )
        bytes_out = CounterMetricFamily(
            "dh_event_bytes_sent", "Response body bytes out", labels=labels
        )
        for s in self.events:
            key = [s.trigger, s.kind]
            for outcome, count in s.events.items():
                events.add_metric([*key, outcome], count)
            duration.add_metric(key, s.duration.cumulative(), s.duration.sum)
            wait.add_metric(key, s.wait.cumulative(), s.wait.sum)
            busy.add_metric(key, s.workers_busy)
            total.add_metric(key, s.workers_total)
            for reason, count in s.restarts.items():
                restarts.add_metric([*key, reason], count)
            bytes_in.add_metric(key, s.bytes_in)
            bytes_out.add_metric(key, s.bytes_out)
        yield from (events, duration, wait, busy, total, restarts, bytes_in, bytes_out)
        sink_labels = ["trigger", "sink"]
        emitted = CounterMetricFamily("dh_sink_emitted", "Items a sink sent on", labels=sink_labels)
        dropped = CounterMetricFamily(
            "dh_sink_dropped", "Items dropped: sink queue full", labels=sink_labels
        )
        failed = CounterMetricFamily(
            "dh_sink_failed", "Items a sink failed to send", labels=sink_labels
        )
        queued = GaugeMetricFamily(
            "dh_sink_queued", "Items waiting in a sink queue", labels=sink_labels
        )
        for k in self.sinks:
            key = [k.trigger, k.kind]
            emitted.add_metric(key, k.emitted)
            dropped.add_metric(key, k.dropped)
            failed.add_metric(key, k.failed)
            queued.add_metric(key, k.queued)
        yield from (emitted, dropped, failed, queued)


def make_registry(collector: RuntimeCollector) -> CollectorRegistry:
    """A registry with the runtime's collector and the process metrics of prometheus-client."""
    from prometheus_client import GC_COLLECTOR, PLATFORM_COLLECTOR, PROCESS_COLLECTOR

    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    for default in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(default)
    return registry
