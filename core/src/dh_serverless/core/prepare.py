"""From ``function.yaml`` to ready-to-build triggers: plugins loaded, attributes structured."""

from __future__ import annotations

import logging
import os
from typing import Any

import attrs

from dh_serverless.core import config as cfg
from dh_serverless.core.errors import ConfigError, PluginLoadError
from dh_serverless.core.plugins import SINKS, TRIGGERS, PluginHost
from dh_serverless.hookspecs.protocols import TriggerOptions

__all__ = (
    "PreparedTrigger",
    "apply_env",
    "prepare_triggers",
    "serving_process_count",
    "trigger_options",
)

_log = logging.getLogger("dh_serverless.runtime")
_TRIGGER_LEVEL = {
    cfg.normalize_key(f.name): cfg.display_key(f.name) for f in attrs.fields(cfg.TriggerConfig)
}


@attrs.frozen
class PreparedTrigger:
    """A trigger whose plugin is loaded and whose attributes are structured.

    ``options`` are the class's :class:`TriggerOptions` (read once, here): what the core
    decides before the trigger is constructed (``one_shot``, ``serving_processes``).
    """

    name: str
    config: cfg.TriggerConfig
    cls: type
    attributes: Any
    sink_kind: str | None = None
    sink_cls: type | None = None
    sink_attributes: Any = None
    options: TriggerOptions = attrs.field(factory=TriggerOptions)


def prepare_triggers(
    config: cfg.FunctionConfig, source: str, host: PluginHost
) -> list[PreparedTrigger]:
    """Load the plugins the function uses and structure every ``attributes`` block.

    Raises :class:`ConfigError` listing every problem, or :class:`PluginLoadError` (also
    for a trigger class whose declared options have the wrong type).
    """
    triggers = {n: t for n, t in config.spec.triggers.items() if not t.disabled}
    raw: dict[str, tuple[dict[str, Any], dict[str, Any] | None]] = {}
    problems: list[str] = []
    for name, trigger in triggers.items():
        attributes = dict(trigger.attributes)
        sink = None
        for key in list(attributes):
            if cfg.normalize_key(str(key)) == "sink":
                sink = attributes.pop(key)
        if sink is not None and not (isinstance(sink, dict) and isinstance(sink.get("kind"), str)):
            problems.append(
                f"spec.triggers.{name}.attributes.sink: expected {{kind: ..., attributes: {{...}}}}"
            )
            sink = None
        raw[name] = (attributes, sink)
    if problems:
        raise ConfigError(source, problems)
    trigger_classes = host.load_kinds(TRIGGERS, {t.kind for t in triggers.values()})
    sink_classes = host.load_kinds(SINKS, {s["kind"] for _, s in raw.values() if s})
    host.register_converters(cfg.CONVERTER)
    prepared = []
    for name, trigger in triggers.items():
        attributes, sink = raw[name]
        cls = trigger_classes[trigger.kind]
        path = ("spec", "triggers", name, "attributes")
        try:
            structured = _structure_attributes(attributes, cls, source, path)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        sink_attributes = None
        if sink:
            sink_cls = sink_classes[sink["kind"]]
            extra = sorted(set(sink) - {"kind", "attributes"})
            if extra:
                problems.append(
                    f"spec.triggers.{name}.attributes.sink.{extra[0]}: unknown key; "
                    "a sink has kind and attributes"
                )
            try:
                sink_attributes = cfg.structure(
                    sink.get("attributes") or {},
                    sink_cls.attributes_type,  # type: ignore[attr-defined]
                    source=source,
                    path=(*path, "sink", "attributes"),
                )
            except ConfigError as exc:
                problems.extend(exc.problems)
                continue
        prepared.append(
            PreparedTrigger(
                name,
                trigger,
                cls,
                structured,
                sink["kind"] if sink else None,
                sink_classes.get(sink["kind"]) if sink else None,
                sink_attributes,
                trigger_options(cls, trigger.kind),
            )
        )
    if problems:
        raise ConfigError(source, problems)
    return prepared


def _structure_attributes(
    raw: dict[str, Any], cls: type, source: str, path: tuple[str, ...]
) -> Any:
    attributes_type = cls.attributes_type  # type: ignore[attr-defined]
    own = {cfg.normalize_key(f.name) for f in attrs.fields(attributes_type)}
    misplaced = [
        f"{'.'.join((*path, str(k)))}: belongs to the trigger, not its attributes: "
        f"move it to {'.'.join(path[:-1])}.{_TRIGGER_LEVEL[cfg.normalize_key(str(k))]}"
        for k in raw
        if cfg.normalize_key(str(k)) in _TRIGGER_LEVEL and cfg.normalize_key(str(k)) not in own
    ]
    if misplaced:
        raise ConfigError(source, misplaced)
    return cfg.structure(raw, attributes_type, source=source, path=path)


def trigger_options(trigger: object, kind: str) -> TriggerOptions:
    """``TriggerOptions.of(trigger)``, a wrongly typed option reported as the plugin's fault."""
    try:
        return TriggerOptions.of(trigger)
    except TypeError as exc:
        raise PluginLoadError(f"trigger kind {kind!r}: {exc}") from None


def apply_env(config: cfg.FunctionConfig) -> None:
    """Set ``spec.env`` values and Nuclio's ``NUCLIO_FUNCTION_*`` variables."""
    for var in config.spec.env:
        if var.value is not None:
            os.environ[var.name] = var.value
        elif var.name not in os.environ:
            _log.warning(
                "spec.env %s uses valueFrom, which the platform resolves; "
                "set %s in the environment",
                var.name,
                var.name,
            )
    os.environ.setdefault("NUCLIO_FUNCTION_NAME", config.metadata.name)
    os.environ.setdefault("NUCLIO_FUNCTION_HANDLER", config.spec.handler)
    os.environ.setdefault("NUCLIO_FUNCTION_DESCRIPTION", config.spec.description)


def serving_process_count(
    config: cfg.FunctionConfig,
    prepared: list[PreparedTrigger],
    source: str,
    override: int | None = None,
) -> int:
    """How many processes serve the function: ``override`` (``--processes``), else
    ``spec.processes``, else a trigger's own ``processes`` attribute (extproc's alias); 1
    for a job (every trigger one-shot). Raises :class:`ConfigError` when a trigger cannot
    serve from several processes (no ``serving_processes``) or the alias disagrees."""
    if prepared and all(i.options.one_shot for i in prepared):
        return 1
    count = override or config.spec.processes
    if override is None:
        for item in prepared:
            alias = getattr(item.attributes, "processes", None)
            if not isinstance(alias, int) or alias <= 1 or alias == count:
                continue
            if count > 1:
                raise ConfigError(
                    source,
                    [
                        f"spec.triggers.{item.name}.attributes.processes: {alias} disagrees "
                        f"with spec.processes {count}; keep one of them"
                    ],
                )
            count = alias
    if count > 1:
        alone = [
            f"spec.processes: {count}, but trigger {i.name} ({i.config.kind}) serves from "
            "one process only"
            for i in prepared
            if i.options.serving_processes is None
        ]
        if alone:
            raise ConfigError(source, alone)
    return count
