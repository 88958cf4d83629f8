"""Read a metric by the name a user writes, from ``/metrics`` text or a registry.

``dh_events_total`` and ``dh_events`` (the counter's family name, as a plugin creates it
with ``spec.metrics.counter("dh_events", ...)``) both read the counter; a histogram's
samples are read by their sample names (``dh_handler_seconds_count``). A name that is not
exported, or a label no sample of it carries, raises :class:`MetricNotFound` naming the
metrics that are, instead of reading as ``0``.

:func:`read_metric` reads any of the places a test finds metrics: a plugin's
``spec.metrics`` (a :class:`~dh_serverless.hookspecs.metrics.Metrics`), a
``prometheus_client`` registry, or the text of a ``/metrics`` page::

    assert read_metric(spec.metrics, "dh_ticker_ticks") == 3
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

__all__ = ("MetricNotFound", "metric_value", "read_metric", "registry_value", "text_value")


class MetricNotFound(LookupError):
    """The metric (or one of the labels asked for) is not exported at all."""


def _sample_names(family: Any) -> set[str]:
    names = {sample.name for sample in family.samples}
    if family.type == "counter":
        names |= {family.name, f"{family.name}_total"}
    elif family.type in ("gauge", "untyped", "unknown", "histogram", "summary"):
        names.add(family.name)
    elif family.type == "info":
        names.add(f"{family.name}_info")
    return names


def metric_value(families: Iterable[Any], name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``.

    ``families`` are ``prometheus_client`` metric families (a registry's ``collect()`` or
    the text parser's output). ``name`` is a sample name (``dh_events_total``) or a
    counter's or gauge's family name (``dh_events``). A labelled metric nothing was
    recorded under yet reads ``0``; a ``name`` no family exports raises
    :class:`MetricNotFound` with the nearest names, and so does a label name that none
    of its samples carries.
    """
    families = list(families)
    wanted = set(labels.items())
    for family in families:
        names = _sample_names(family)
        if name not in names:
            continue
        if family.type == "counter" and name == family.name:
            name = f"{family.name}_total"
        if family.type in ("histogram", "summary") and name == family.name:
            raise MetricNotFound(
                f"{name!r} is a {family.type}: read one of its samples "
                f"({', '.join(sorted(n for n in names if n != name))})"
            )
        samples = [s for s in family.samples if s.name == name]
        known = {key for sample in samples for key in sample.labels}
        unknown = sorted(set(labels) - known)
        if samples and unknown:
            raise MetricNotFound(
                f"{name!r} has no label {unknown[0]!r}; its labels: {', '.join(sorted(known))}"
            )
        return float(sum(s.value for s in samples if wanted <= set(s.labels.items())))
    every = sorted({n for family in families for n in _sample_names(family)})
    close = difflib.get_close_matches(name, every, n=5, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise MetricNotFound(f"no metric {name!r} is exported{hint} ({len(every)} names exported)")


def text_value(text: str, name: str, **labels: str) -> float:
    """:func:`metric_value` over a Prometheus text page (``/metrics``)."""
    from prometheus_client.parser import text_string_to_metric_families

    return metric_value(text_string_to_metric_families(text), name, **labels)


def registry_value(registry: Any, name: str, **labels: str) -> float:
    """:func:`metric_value` over a ``prometheus_client`` registry, read now."""
    return metric_value(registry.collect(), name, **labels)


def read_metric(source: Any, name: str, **labels: str) -> float:
    """:func:`metric_value` over ``source``: a plugin's ``Metrics`` registry
    (``spec.metrics``), a ``prometheus_client`` registry, or ``/metrics`` text."""
    from dh_serverless.hookspecs.metrics import Metrics

    if isinstance(source, str):
        return text_value(source, name, **labels)
    if isinstance(source, Metrics):
        from dh_serverless.core.metrics import PluginCollector

        return metric_value(PluginCollector(source).collect(), name, **labels)
    return registry_value(source, name, **labels)
