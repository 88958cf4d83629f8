"""Metrics a plugin publishes on the runtime's one ``/metrics``.

Plugins keep plain numbers on the hot path, as the core does: a family (counter, gauge,
histogram) is created once at start-up with its label names, ``labels(...)`` returns a
*cell* to keep, and updating a cell is an attribute addition (no lock, no label
lookup). The core turns every family into Prometheus text only when ``/metrics`` is
scraped. This module has no dependency on ``prometheus_client``.

::

    requests = spec.metrics.counter("dh_mykind_requests", "Requests", ("outcome",))
    ok = requests.labels("ok")        # at start-up
    ok.inc()                          # per event
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar

__all__ = (
    "DEFAULT_BUCKETS",
    "Counter",
    "CounterCell",
    "Family",
    "Gauge",
    "GaugeCell",
    "Histogram",
    "HistogramCell",
    "Metrics",
    "RateMeter",
)

C = TypeVar("C")

#: Histogram bounds in seconds, from 0.5 ms to 10 s (the core's handler-time buckets).
DEFAULT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class CounterCell:
    """One labelled counter value; ``inc`` adds to it (or ``cell.value += n``)."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: float = 0

    def inc(self, amount: float = 1) -> None:
        """Add ``amount`` (default 1)."""
        self.value += amount


class GaugeCell:
    """One labelled gauge value: ``set``, ``inc``, ``dec``, or a function read at scrape time."""

    __slots__ = ("function", "value")

    def __init__(self) -> None:
        self.value: float = 0
        self.function: Callable[[], float] | None = None

    def set(self, value: float) -> None:
        """Set the value."""
        self.value = value

    def inc(self, amount: float = 1) -> None:
        """Add ``amount``."""
        self.value += amount

    def dec(self, amount: float = 1) -> None:
        """Subtract ``amount``."""
        self.value -= amount

    def set_function(self, function: Callable[[], float]) -> None:
        """Read the value from ``function()`` at each scrape instead of storing it."""
        self.function = function

    def read(self) -> float:
        """The current value."""
        return self.value if self.function is None else self.function()


class HistogramCell:
    """Bucket counts, a sum and a count; ``observe`` is a bisect and two additions."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: Sequence[float] = DEFAULT_BUCKETS) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        """Count one observation."""
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    @property
    def count(self) -> int:
        """How many observations."""
        return sum(self.counts)

    def cumulative(self) -> list[tuple[str, int]]:
        """``(upper bound, cumulative count)`` pairs, ending with ``+Inf``, as Prometheus wants."""
        total, out = 0, []
        for bound, count in zip(
            (*(str(float(b)) for b in self.bounds), "+Inf"), self.counts, strict=True
        ):
            total += count
            out.append((bound, total))
        return out


class Family(Generic[C]):
    """A named metric with label names; ``labels(*values)`` gets or creates a cell."""

    type = ""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str]) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self.cells: dict[tuple[str, ...], C] = {}

    def _new_cell(self) -> C:
        raise NotImplementedError

    def labels(self, *values: object) -> C:
        """The cell of these label values, in the order of the label names (keep it)."""
        if len(values) != len(self.labelnames):
            raise ValueError(
                f"{self.name} has labels {self.labelnames}; got {len(values)} values {values!r}"
            )
        key = tuple(str(v) for v in values)
        cell = self.cells.get(key)
        if cell is None:
            cell = self.cells[key] = self._new_cell()
        return cell

    def remove(self, *values: object) -> None:
        """Forget the cell of these label values (a viewer that left, a closed stream)."""
        self.cells.pop(tuple(str(v) for v in values), None)


class Counter(Family[CounterCell]):
    """A counter family; exported as ``<name>_total``."""

    type = "counter"

    def _new_cell(self) -> CounterCell:
        return CounterCell()


class Gauge(Family[GaugeCell]):
    """A gauge family."""

    type = "gauge"

    def _new_cell(self) -> GaugeCell:
        return GaugeCell()


class Histogram(Family[HistogramCell]):
    """A histogram family; every cell shares the family's bucket bounds."""

    type = "histogram"

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> None:
        super().__init__(name, documentation, labelnames)
        self.buckets = tuple(sorted(buckets))

    def _new_cell(self) -> HistogramCell:
        return HistogramCell(self.buckets)


class Metrics:
    """The families of one runtime; the core exports them all on ``/metrics``.

    Asking twice for one name returns the same family, so two triggers of one kind
    share it (they tell themselves apart by a label). Asking for a name with another
    type or other label names is a ``ValueError``.
    """

    def __init__(self) -> None:
        self.families: dict[str, Family[Any]] = {}

    def _family(
        self, cls: type[Family[Any]], name: str, make: Callable[[], Family[Any]]
    ) -> Family[Any]:
        family = self.families.get(name)
        if family is None:
            family = self.families[name] = make()
            return family
        wanted = make()
        if type(family) is not cls or family.labelnames != wanted.labelnames:
            raise ValueError(
                f"metric {name} exists as a {family.type} with labels {family.labelnames}; "
                f"asked for a {cls.type} with labels {wanted.labelnames}"
            )
        return family

    def counter(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> Counter:
        """A counter family (``name`` without ``_total``: the exporter adds it)."""
        family = self._family(Counter, name, lambda: Counter(name, documentation, labelnames))
        assert isinstance(family, Counter)
        return family

    def gauge(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> Gauge:
        """A gauge family."""
        family = self._family(Gauge, name, lambda: Gauge(name, documentation, labelnames))
        assert isinstance(family, Gauge)
        return family

    def histogram(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> Histogram:
        """A histogram family with these bucket upper bounds (``+Inf`` is implied)."""
        family = self._family(
            Histogram, name, lambda: Histogram(name, documentation, labelnames, buckets)
        )
        assert isinstance(family, Histogram)
        return family

    def __iter__(self) -> Iterator[Family[Any]]:
        return iter(list(self.families.values()))


class RateMeter:
    """Events per second over the last second or so (a camera's frame rate), 0 once the
    source has been silent for two seconds; a gauge reads it at scrape time
    (``gauge.labels(...).set_function(meter.read)``). ``tick`` is a few additions."""

    __slots__ = ("_count", "_last", "_start", "rate")

    def __init__(self) -> None:
        self.rate = 0.0
        self._count = 0
        self._start = 0.0
        self._last = 0.0

    def tick(self, now: float) -> None:
        """Count one event arriving at ``now`` (``time.monotonic()``)."""
        self._last = now
        self._count += 1
        elapsed = now - self._start
        if elapsed >= 1.0:
            self.rate = self._count / elapsed if self._start else 0.0
            self._start = now
            self._count = 0

    def read(self) -> float:
        """The current rate."""
        return 0.0 if time.monotonic() - self._last > 2.0 else self.rate
