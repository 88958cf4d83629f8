"""Counters for ``/metrics``, kept as plain numbers on the hot path.

prometheus-client's own metrics take a lock and a label lookup per update; an event
updates about six numbers, so the core keeps them in slotted objects and a custom
collector turns them into Prometheus families only when ``/metrics`` is scraped.
prometheus-client itself is imported only then, or when a registry is made, so a function
without a health server (a job) never loads it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from dh_serverless.hookspecs.metrics import Counter, Gauge, Histogram, HistogramCell, Metrics

if TYPE_CHECKING:
    from prometheus_client.core import Metric
    from prometheus_client.registry import CollectorRegistry

__all__ = (
    "EventStats",
    "HistogramCell",
    "PluginCollector",
    "RuntimeCollector",
    "SinkStats",
    "make_registry",
)

#: Outcomes of an event: answered by the handler (``ok`` below 500, ``error`` from 500),
#: or by the runtime (``busy``, ``timeout``, ``lost``, ``shutdown``).
OUTCOMES = ("ok", "error", "busy", "timeout", "lost", "shutdown")


class EventStats:
    """What happened to the events of one trigger, and the state of its workers."""

    __slots__ = (
        "abandoned",
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
        self.duration = HistogramCell()
        self.wait = HistogramCell()
        self.bytes_in = 0
        self.bytes_out = 0
        self.workers_busy = 0
        self.workers_total = 0
        self.restarts: dict[str, int] = {}
        #: threads left running a handler past ``eventTimeout`` (pruned as they finish)
        self.abandoned: list[Any] = []

    def abandoned_running(self) -> int:
        """How many of :attr:`abandoned` still run; the finished ones are forgotten."""
        self.abandoned = [t for t in self.abandoned if t.is_alive()]
        return len(self.abandoned)


class SinkStats:
    """Items a sink emitted, dropped (queue full, or too late for ordered delivery) and
    failed to emit, and the age of emitted items (arrival to emitted)."""

    __slots__ = ("age", "dropped", "emitted", "failed", "kind", "late", "queued", "trigger")

    def __init__(self, trigger: str, kind: str) -> None:
        self.trigger = trigger
        self.kind = kind
        self.emitted = 0
        self.dropped = 0
        self.late = 0
        self.failed = 0
        self.queued = 0
        self.age = HistogramCell()


class RuntimeCollector:
    """Turns every :class:`EventStats` and :class:`SinkStats` into Prometheus families."""

    def __init__(self) -> None:
        self.events: list[EventStats] = []
        self.sinks: list[SinkStats] = []

    def collect(self) -> Iterator[Metric]:
        """Prometheus families of every trigger's events and every sink's items."""
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

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
        abandoned = GaugeMetricFamily(
            "dh_worker_threads_abandoned",
            "Threads still running a handler that overran eventTimeout",
            labels=labels,
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
            abandoned.add_metric(key, s.abandoned_running())
        yield from (events, duration, wait, busy, total, restarts, bytes_in, bytes_out, abandoned)
        sink_labels = ["trigger", "sink"]
        emitted = CounterMetricFamily("dh_sink_emitted", "Items a sink sent on", labels=sink_labels)
        dropped = CounterMetricFamily(
            "dh_sink_dropped",
            "Items dropped: sink queue full, or too late for ordered delivery",
            labels=[*sink_labels, "reason"],
        )
        failed = CounterMetricFamily(
            "dh_sink_failed", "Items a sink failed to send", labels=sink_labels
        )
        queued = GaugeMetricFamily(
            "dh_sink_queued", "Items waiting in a sink queue", labels=sink_labels
        )
        age = HistogramMetricFamily(
            "dh_sink_age_seconds",
            "Time from an event's arrival (its timestamp) to its item emitted by the sink",
            labels=sink_labels,
        )
        for k in self.sinks:
            key = [k.trigger, k.kind]
            emitted.add_metric(key, k.emitted)
            dropped.add_metric([*key, "full"], k.dropped)
            dropped.add_metric([*key, "late"], k.late)
            failed.add_metric(key, k.failed)
            queued.add_metric(key, k.queued)
            if k.age.sum or any(k.age.counts):
                age.add_metric(key, k.age.cumulative(), k.age.sum)
        yield from (emitted, dropped, failed, queued, age)


class PluginCollector:
    """Exports the families plugins created in a :class:`Metrics` registry."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        """Prometheus families of the plugins' counters, gauges and histograms."""
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        for family in self.metrics:
            labels = list(family.labelnames)
            doc = family.documentation
            if isinstance(family, Counter):
                counter = CounterMetricFamily(family.name, doc, labels=labels)
                for key, count in list(family.cells.items()):
                    counter.add_metric(list(key), count.value)
                yield counter
            elif isinstance(family, Gauge):
                gauge = GaugeMetricFamily(family.name, doc, labels=labels)
                for key, level in list(family.cells.items()):
                    gauge.add_metric(list(key), level.read())
                yield gauge
            elif isinstance(family, Histogram):
                histogram = HistogramMetricFamily(family.name, doc, labels=labels)
                for key, cell in list(family.cells.items()):
                    histogram.add_metric(list(key), cell.cumulative(), cell.sum)
                yield histogram


def make_registry(
    collector: RuntimeCollector, metrics: Metrics | None = None, *, defaults: bool = True
) -> CollectorRegistry:
    """A registry with the runtime's collector, the plugins' ``metrics`` and (``defaults``)
    the process metrics of prometheus-client."""
    from prometheus_client import GC_COLLECTOR, PLATFORM_COLLECTOR, PROCESS_COLLECTOR
    from prometheus_client.registry import CollectorRegistry

    registry = CollectorRegistry(auto_describe=False)
    # Duck-typed collectors (``collect()`` only), so that this module imports no prometheus.
    registry.register(collector)
    if metrics is not None:
        registry.register(PluginCollector(metrics))
    for default in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR) if defaults else ():
        registry.register(default)
    return registry
