"""``function.yaml`` as attrs classes, loaded with the core's one converter.

Configurations of Nuclio and of the original project load unchanged: keys match ignoring
case and underscores, and the keys Nuclio reads for the platform (replicas, build,
volumes, ...) are accepted and ignored. Unlike Nuclio, an unknown key is an error that
names the file, the full key path and the nearest valid key (:mod:`.converter`).
"""

from __future__ import annotations

import logging
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
from dh_serverless.core.inline import inline_function_config

__all__ = (
    "CONVERTER",
    "DEFAULT_HTTP_PORT_ENV",
    "DEFAULT_HTTP_TRIGGER",
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
    "with_default_http_trigger",
)

_log = logging.getLogger("dh_serverless.config")

#: Nuclio's trigger kinds other than ``http``: functions using only these get the default
#: http trigger, as on Nuclio's platform.
_NUCLIO_EVENT_SOURCES = frozenset(
    {
        "cron",
        "kafka-cluster",
        "kinesis",
        "mqtt",
        "nats",
        "rabbit-mq",
        "v3ioStream",
        "pubsub",
        "kickstart",
        "eventhub",
    }
)

#: The name of the trigger Nuclio's platform adds to a function without an http trigger.
DEFAULT_HTTP_TRIGGER = "default-http"
#: Environment variable that moves the default http trigger off port 8080.
DEFAULT_HTTP_PORT_ENV = "DH_SERVERLESS_DEFAULT_HTTP_PORT"


#: Nuclio keys a runtime does not act on; accepted so that platform configs load unchanged.
_PLATFORM_SPEC_KEYS = frozenset(
    normalize_key(k)
    for k in [
        "replicas",
        "minReplicas",
        "maxReplicas",
        "targetCPU",
        "disable",
        "publish",
        "readinessTimeoutSeconds",
        "waitReadinessTimeoutBeforeFailure",
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
    #: serving processes (``--processes`` overrides): see ``core.serving_processes``
    processes: int = 1
    #: Nuclio's switch for the ``default-http`` trigger (see :func:`with_default_http_trigger`).
    disable_default_http_trigger: bool | None = None
    #: Nuclio's image build (``commands``, ``baseImage``, ...): accepted, never run.
    build: dict[str, Any] | None = None


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


def load_function_config(
    path: str | os.PathLike[str], *, processor: bool = False
) -> FunctionConfig:
    """Read and validate a ``function.yaml``; raise :class:`ConfigError` on any problem.

    A ``.py`` file is a handler with Nuclio's inline configuration: its
    ``# @nuclio.configure`` block (:mod:`.inline`), or none, in which case the handler is
    ``<file name>:handler`` as ``nuctl deploy --path handler.py`` makes it. Nuclio's
    ``default-http`` trigger is added as :func:`with_default_http_trigger` says; with
    ``processor`` the file is read as Nuclio's processor reads its ``processor.yaml``,
    already completed by the platform, so the default trigger is added only to a function
    with no trigger at all.
    """
    source = str(path)
    if source.endswith(".py"):
        data: Any = inline_function_config(path) or {}
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(source, [f"cannot read the file: {exc.strerror or exc}"]) from exc
        data = _load_yaml(text, source)
    if not isinstance(data, Mapping):
        raise ConfigError(source, ["expected a NuclioFunction mapping at the top level"])
    config = structure(data, FunctionConfig, source=source)
    if source.endswith(".py") and not config.spec.handler:
        handler = f"{Path(source).stem}:handler"
        config = attrs.evolve(config, spec=attrs.evolve(config.spec, handler=handler))
    config = with_default_http_trigger(config, processor=processor)
    _check(config, source)
    if config.spec.build:
        _log.warning(
            "spec.build (%s) is accepted and not run: dh-serverless builds no image; "
            "install what the function needs before running it",
            ", ".join(sorted(str(k) for k in config.spec.build)),
        )
    return config


def _load_yaml(text: str, source: str) -> Any:
    """``yaml.safe_load`` with libyaml's parser when PyYAML has it (a few times faster than
    the pure-Python one); an error is worded by the pure-Python parser, as it always was."""
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            return yaml.load(text, Loader=fast)  # CSafeLoader: the safe constructor
        except yaml.YAMLError:
            pass  # parsed again below, for the message
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(source, [f"not valid YAML: {exc}"]) from exc


def with_default_http_trigger(config: FunctionConfig, *, processor: bool = False) -> FunctionConfig:
    """``config`` with Nuclio's ``default-http`` trigger (kind ``http``, 1 worker, port 8080)
    added where Nuclio's platform adds it (``enrichDefaultHTTPTrigger``).

    Nuclio adds it to every function without an ``http`` trigger unless
    ``spec.disableDefaultHTTPTrigger`` is true. dh-serverless adds it:

    - to a function with no trigger at all (Nuclio's examples), unless the key is true;
    - beside Nuclio's own event sources (``cron``, ``kafka-cluster``, ...) only when the
      key is written ``false``, as Nuclio's examples write it: a cron function that does
      not ask for a listener gets none;
    - never beside ``job`` (it runs once and exits) or the triggers dh-serverless adds
      (``extproc``, ``openinference``, ``mjpeg``, ...: they serve on their own ports).

    With ``processor`` the file is read as Nuclio's processor reads it, already completed
    by the platform: only a function with no trigger at all gets it.
    ``DH_SERVERLESS_DEFAULT_HTTP_PORT`` moves it off 8080.
    """
    spec = config.spec
    triggers = spec.triggers
    if spec.disable_default_http_trigger:
        return config
    if triggers and (processor or spec.disable_default_http_trigger is None):
        return config
    if any(t.kind not in _NUCLIO_EVENT_SOURCES for t in triggers.values()):
        return config
    port = _default_http_port()
    default = TriggerConfig(
        kind="http",
        name=DEFAULT_HTTP_TRIGGER,
        num_workers=1,
        attributes={} if port is None else {"port": port},
    )
    _log.debug("adding the default http trigger %r (port %s)", DEFAULT_HTTP_TRIGGER, port or 8080)
    return attrs.evolve(
        config,
        spec=attrs.evolve(spec, triggers={**triggers, DEFAULT_HTTP_TRIGGER: default}),
    )


def _default_http_port() -> int | None:
    raw = os.environ.get(DEFAULT_HTTP_PORT_ENV, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 0 <= int(raw) <= 65535:
        raise ConfigError(
            DEFAULT_HTTP_PORT_ENV, [f"expected a port number (0 for any free port), got {raw!r}"]
        )
    return int(raw)


def _check(config: FunctionConfig, source: str) -> None:
    problems = []
    if not config.api_version.startswith("nuclio.io/"):
        problems.append(f"apiVersion: expected 'nuclio.io/v1', got {config.api_version!r}")
    if not config.spec.triggers:
        problems.append(
            "spec.triggers: no trigger configured and disableDefaultHTTPTrigger is true; "
            "add one, e.g. 'http: {kind: http}'"
        )
    for key, trigger in config.spec.triggers.items():
        if trigger.name not in (None, key):
            problems.append(f"spec.triggers.{key}.name: must equal the key {key!r}")
        if not 1 <= trigger.workers <= 100_000:
            problems.append(f"spec.triggers.{key}.maxWorkers: must be between 1 and 100000")
    if not 1 <= config.spec.processes <= 1024:
        problems.append(f"spec.processes: must be between 1 and 1024, got {config.spec.processes}")
    if problems:
        raise ConfigError(source, problems)
