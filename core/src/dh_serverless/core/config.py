"""``function.yaml`` as attrs classes, loaded with the core's one converter.

Configurations of Nuclio and of the original project load unchanged: keys match ignoring
case and underscores, and the keys Nuclio reads for the platform (replicas, build,
volumes, ...) are accepted and ignored. Unlike Nuclio, an unknown key is an error that
names the file, the full key path and the nearest valid key (:mod:`.converter`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import attrs
import yaml

from dh_serverless.core.converter import (
    CONVERTER,
    Duration,
    StrictDuration,
    display_key,
    key_policy,
    normalize_key,
    structure,
)
from dh_serverless.core.errors import ConfigError

__all__ = (
    "CONVERTER",
    "Duration",
    "EnvVar",
    "FunctionConfig",
    "Metadata",
    "Spec",
    "TriggerConfig",
    "display_key",
    "load_function_config",
    "normalize_key",
    "structure",
)


#: Nuclio keys a runtime does not act on; accepted so that platform configs load unchanged.
_PLATFORM_SPEC_KEYS = frozenset(
    normalize_key(k)
    for k in [
        "replicas",
        "minReplicas",
        "maxReplicas",
        "targetCPU",
        "disableDefaultHTTPTrigger",
        "disable",
        "publish",
        "readinessTimeoutSeconds",
        "waitReadinessTimeoutBeforeFailure",
        "build",
        "image",
        "imageHash",
        "imagePullSecrets",
        "imagePullPolicy",
        "resources",
        "volumes",
        "platform",
        "runRegistry",
        "runtimeAttributes",
        "loggerSinks",
        "dealerURI",
        "avatar",
        "serviceType",
        "securityContext",
        "serviceAccount",
        "scaleToZero",
        "podPriorityClassName",
        "priorityClassName",
        "preemptionPolicy",
        "nodeSelector",
        "nodeName",
        "affinity",
        "tolerations",
        "customScalingMetricSpecs",
        "autoScaleMetrics",
        "dataBindings",
        "alias",
        "version",
        "sidecars",
        "initContainers",
    ]
)


_FIFTEEN_SECONDS = Duration(15.0)


@attrs.frozen
class EnvVar:
    """One ``spec.env`` entry: ``{name, value}`` or ``{name, valueFrom}`` (Kubernetes EnvVar)."""

    name: str
    value: str | None = None
    value_from: dict[str, Any] | None = None


@attrs.frozen
class TriggerConfig:
    """One ``spec.triggers.<name>`` entry; ``attributes`` is structured by the plugin."""

    kind: str
    name: str | None = None
    num_workers: int | None = None
    max_workers: int | None = None
    worker_availability_timeout_milliseconds: int | None = None
    worker_termination_timeout: Duration | None = None
    worker_allocator_name: str | None = None
    disabled: bool = False
    annotations: dict[str, str] = attrs.Factory(dict)
    batch: dict[str, Any] | None = None
    url: str | None = None
    attributes: dict[str, Any] = attrs.Factory(dict)

    @property
    def workers(self) -> int:
        """``numWorkers`` when set, else ``maxWorkers`` (Nuclio's deprecated name), else 1."""
        return self.num_workers or self.max_workers or 1

    @property
    def availability_timeout(self) -> float:
        """Seconds an event waits for a free worker (Nuclio: absent or negative is 10 s)."""
        value = self.worker_availability_timeout_milliseconds
        if value is None or value < 0:
            return 10.0
        return value / 1000


@attrs.frozen
class Spec:
    """``spec``: the handler, its environment, triggers and runtime settings."""

    handler: str = ""
    runtime: str = "python"
    description: str = ""
    env: list[EnvVar] = attrs.Factory(list)
    env_from: list[Any] = attrs.Factory(list)
    event_timeout: StrictDuration | None = None
    triggers: dict[str, TriggerConfig] = attrs.Factory(dict)
    #: where sync handlers run: ``auto`` (async on the loop, sync on threads),
    #: ``thread`` or ``process`` (spawned worker processes, for CPU-bound handlers).
    worker_kind: Literal["auto", "thread", "process"] = "auto"
    graceful_shutdown_timeout: Duration = _FIFTEEN_SECONDS


@attrs.frozen
class Metadata:
    """``metadata``: the function's name and labels."""

    name: str = "function"
    namespace: str = "default"
    labels: dict[str, str] = attrs.Factory(dict)
    annotations: dict[str, str] = attrs.Factory(dict)


@attrs.frozen
class FunctionConfig:
    """A whole ``function.yaml`` (``apiVersion: nuclio.io/v1``, ``kind: NuclioFunction``)."""

    api_version: str = "nuclio.io/v1"
    kind: Literal["NuclioFunction"] = "NuclioFunction"
    metadata: Metadata = attrs.Factory(Metadata)
    spec: Spec = attrs.Factory(Spec)
    status: dict[str, Any] | None = None


_TRIGGER_KEYS = {normalize_key(f.name): display_key(f.name) for f in attrs.fields(TriggerConfig)}
_SPEC_KEYS = {normalize_key(f.name): display_key(f.name) for f in attrs.fields(Spec)}
key_policy(
    FunctionConfig,
    misplaced={k: f"it belongs under spec (spec.{v})" for k, v in _SPEC_KEYS.items()},
)
key_policy(
    Spec,
    ignored=_PLATFORM_SPEC_KEYS,
    misplaced={
        k: f"it belongs to each trigger (spec.triggers.<name>.{v})"
        for k, v in _TRIGGER_KEYS.items()
        if k not in _SPEC_KEYS
    },
)
key_policy(
    Metadata, ignored=frozenset({"resourceversion", "uid", "generation", "creationtimestamp"})
)


def load_function_config(path: str | os.PathLike[str]) -> FunctionConfig:
    """Read and validate a ``function.yaml``; raise :class:`ConfigError` on any problem."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, [f"cannot read the file: {exc.strerror or exc}"]) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(source, [f"not valid YAML: {exc}"]) from exc
    if not isinstance(data, Mapping):
        raise ConfigError(source, ["expected a NuclioFunction mapping at the top level"])
    config = structure(data, FunctionConfig, source=source)
    _check(config, source)
    return config


def _check(config: FunctionConfig, source: str) -> None:
    problems = []
    if not config.api_version.startswith("nuclio.io/"):
        problems.append(f"apiVersion: expected 'nuclio.io/v1', got {config.api_version!r}")
    if not config.spec.triggers:
        problems.append("spec.triggers: no trigger configured; add one, e.g. 'http: {kind: http}'")
    for key, trigger in config.spec.triggers.items():
        if trigger.name not in (None, key):
            problems.append(f"spec.triggers.{key}.name: must equal the key {key!r}")
        if not 1 <= trigger.workers <= 100_000:
            problems.append(f"spec.triggers.{key}.maxWorkers: must be between 1 and 100000")
    if problems:
        raise ConfigError(source, problems)
