"""Build what the core hands a trigger or a sink, for tests that construct one by hand.

::

    from dh_serverless.testing import FakeDispatch, read_metric, trigger_spec

    spec = trigger_spec(TickerTrigger, {"interval": "50ms"})   # or trigger_spec("ticker", ...)
    trigger = TickerTrigger(spec)
    dispatch = FakeDispatch()
    await trigger.start(dispatch)
    await dispatch.wait_for(3)
    await trigger.stop(1)
    assert read_metric(spec.metrics, "dh_ticker_ticks") == 3

The attributes are structured exactly as ``dh-serverless run`` structures them (the core's
converter, with the plugin's own ``dh_register_converters`` hooks when it is installed),
so a mistake raises the same :class:`~dh_serverless.core.errors.ConfigError`, naming
``spec.triggers.<name>.attributes.<key>``.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Callable, Mapping
from typing import Any

from dh_serverless.core import config as cfg
from dh_serverless.core.converter import structure
from dh_serverless.core.plugins import SINKS, TRIGGERS, PluginHost
from dh_serverless.hookspecs.metrics import Metrics
from dh_serverless.hookspecs.protocols import FunctionInfo, SinkSpec, TriggerSpec

__all__ = ("function_info", "sink_spec", "trigger_spec")


def function_info(name: str = "test", handler: str = "main:handler") -> FunctionInfo:
    """The :class:`FunctionInfo` of a function called ``name`` serving ``handler``."""
    return FunctionInfo(name=name, handler=handler)


def _resolve(group: str, plugin: type | str) -> tuple[str, type]:
    """The kind and class of ``plugin`` (an installed kind, or a class), with the installed
    plugin's converter hooks registered on the core's converter."""
    host = PluginHost()
    if isinstance(plugin, str):
        cls = host.load_kinds(group, [plugin])[plugin]
        host.register_converters(cfg.CONVERTER)
        return plugin, cls
    for entry in importlib.metadata.entry_points(group=group):
        module, _, attr = entry.value.partition(":")
        if attr.strip() == plugin.__qualname__ and plugin.__module__.startswith(module.strip()):
            host.load_kinds(group, [entry.name])
            host.register_converters(cfg.CONVERTER)
            return entry.name, plugin
    return str(getattr(plugin, "kind", "") or plugin.__name__.lower()), plugin


def trigger_spec(
    trigger: type | str,
    attributes: Mapping[str, Any] | None = None,
    *,
    name: str | None = None,
    workers: int = 1,
    handler: str = "main:handler",
    function: FunctionInfo | None = None,
    metrics: Metrics | None = None,
    debug: bool = False,
    request_exit: Callable[[int], None] | None = None,
    processes: int = 1,
    process: int = 0,
) -> TriggerSpec:
    """The :class:`TriggerSpec` the runtime would build for ``trigger`` (its class, or
    its installed kind) with ``attributes`` as written in ``function.yaml``.

    ``name`` defaults to the kind; ``function`` to a function named ``test`` serving
    ``handler``; ``metrics`` to a fresh registry (read it with
    :func:`~dh_serverless.testing.metrics.read_metric`); ``request_exit`` to a function
    that records the codes asked for in ``spec.request_exit.codes``.
    """
    kind, cls = _resolve(TRIGGERS, trigger)
    name = name or kind
    structured = structure(
        dict(attributes or {}), cls.attributes_type,  # type: ignore[attr-defined]
        source="function.yaml", path=("spec", "triggers", name, "attributes"),
    )  # fmt: skip
    return TriggerSpec(
        name=name,
        kind=kind,
        attributes=structured,
        function=function or function_info(handler=handler),
        workers=workers,
        logger=logging.getLogger(f"dh_serverless.trigger.{name}"),
        debug=debug,
        request_exit=request_exit or ExitRequests(),
        metrics=metrics if metrics is not None else Metrics(),
        processes=processes,
        process=process,
    )


def sink_spec(
    sink: type | str,
    attributes: Mapping[str, Any] | None = None,
    *,
    trigger: str = "test",
    metrics: Metrics | None = None,
) -> SinkSpec:
    """The :class:`SinkSpec` the runtime would build for ``sink`` (its class, or its
    installed kind) fed by the trigger called ``trigger``."""
    kind, cls = _resolve(SINKS, sink)
    structured = structure(
        dict(attributes or {}),
        cls.attributes_type,  # type: ignore[attr-defined]
        source="function.yaml",
        path=("spec", "triggers", trigger, "attributes", "sink", "attributes"),
    )
    return SinkSpec(
        kind=kind,
        trigger=trigger,
        attributes=structured,
        logger=logging.getLogger(f"dh_serverless.sink.{kind}"),
        metrics=metrics if metrics is not None else Metrics(),
    )


class ExitRequests:
    """A ``request_exit`` that records the exit codes a trigger asked for (``codes``)."""

    def __init__(self) -> None:
        self.codes: list[int] = []

    def __call__(self, code: int) -> None:
        self.codes.append(code)
