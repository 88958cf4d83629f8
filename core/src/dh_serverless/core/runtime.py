"""Start and stop one function: plugins, workers, sinks, triggers, health, signals."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import Any

import attrs

from dh_serverless.core import config as cfg
from dh_serverless.core.dispatch import Gate, SinkChannel, build_dispatch, compose
from dh_serverless.core.errors import ConfigError, UserError
from dh_serverless.core.function import LoadedHandler, load_handler
from dh_serverless.core.health import HealthServer
from dh_serverless.core.metrics import EventStats, RuntimeCollector, SinkStats, make_registry
from dh_serverless.core.plugins import SINKS, TRIGGERS, PluginHost
from dh_serverless.core.workers import AsyncWorker, ThreadWorker, Worker, WorkerOptions, WorkerPool
from dh_serverless.hookspecs.protocols import FunctionInfo, Sink, SinkSpec, Trigger, TriggerSpec
from dh_serverless.hookspecs.types import TriggerInfo

__all__ = ("PreparedTrigger", "Runtime", "prepare_triggers")

_log = logging.getLogger("dh_serverless.runtime")
_TRIGGER_LEVEL = {
    cfg.normalize_key(f.name): cfg.display_key(f.name) for f in attrs.fields(cfg.TriggerConfig)
}


@attrs.frozen
class PreparedTrigger:
    """A trigger whose plugin is loaded and whose attributes are structured."""

    name: str
    config: cfg.TriggerConfig
    cls: type
    attributes: Any
    sink_kind: str | None = None
    sink_cls: type | None = None
    sink_attributes: Any = None


def prepare_triggers(
    config: cfg.FunctionConfig, source: str, host: PluginHost
) -> list[PreparedTrigger]:
    """Load the plugins the function uses and structure every ``attributes`` block.

    Raises :class:`ConfigError` listing every problem, or ``PluginLoadError``.
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


class Runtime:
    """One function: its triggers, their worker pools and sinks, and the health server."""

    def __init__(
        self,
        config: cfg.FunctionConfig,
        source: str | Path,
        *,
        handler: str | None = None,
        debug: bool = False,
        health_host: str = "0.0.0.0",
        health_port: int | None = 8082,
        host: PluginHost | None = None,
    ) -> None:
        self.config = config
        self.source = Path(source)
        self.handler_spec = handler or config.spec.handler
        self.debug = debug
        self.host = host or PluginHost()
        self.function = FunctionInfo(
            name=config.metadata.name,
            namespace=config.metadata.namespace,
            handler=self.handler_spec,
        )
        self.collector = RuntimeCollector()
        self.health = (
            None
            if health_port is None
            else HealthServer(
                health_host,
                health_port,
                is_ready=self._readiness,
                registry=make_registry(self.collector),
            )
        )
        self.gate = Gate()
        self.state = "starting"
        self.triggers: list[Trigger] = []
        self.pools: list[WorkerPool] = []
        self.sinks: list[SinkChannel] = []
        self._exit: asyncio.Future[int] | None = None

    def _readiness(self) -> str | None:
        return None if self.state == "ready" else self.state

    def request_exit(self, code: int = 0) -> None:
        """Stop the function and make :meth:`run` return ``code`` (first request wins)."""
        if self._exit is not None and not self._exit.done():
            self._exit.set_result(code)

    async def run(self) -> int:
        """Start, serve until a signal or ``request_exit``, shut down; return the exit code."""
        loop = asyncio.get_running_loop()
        self._exit = loop.create_future()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            await self.start()
            code = await self._exit
        finally:
            await self.shutdown()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        return code

    def _on_signal(self, sig: signal.Signals) -> None:
        _log.info("received %s: shutting down", sig.name)
        self.request_exit(0)

    async def start(self) -> None:
        """Everything up to serving; raise :class:`UserError` on a problem the user can fix."""
        prepared = prepare_triggers(self.config, str(self.source), self.host)
        apply_env(self.config)
        self.host.load_hook_plugins()
        if self.health is not None:
            try:
                await self.health.start()
            except OSError as exc:
                raise UserError(
                    f"health server cannot listen on {self.health.host}:{self.health.port}: "
                    f"{exc.strerror or exc}; choose another port with --health-port"
                ) from exc
        loaded = load_handler(self.handler_spec, self.source.resolve().parent, debug=self.debug)
        middleware = self.host.dispatch_middleware(self.function)
        for item in prepared:
            await self._start_trigger(item, loaded, middleware)
        self.state = "ready"
        _log.info(
            "function %s ready (handler %s, triggers: %s)",
            self.function.name,
            self.handler_spec,
            ", ".join(f"{t.name} ({t.kind})" for t in self.triggers),
        )

    async def _start_trigger(
        self, item: PreparedTrigger, loaded: LoadedHandler, middleware: list[Any]
    ) -> None:
        trigger_cfg = item.config
        stats = EventStats(item.name, trigger_cfg.kind)
        self.collector.events.append(stats)
        options = WorkerOptions(
            TriggerInfo(trigger_cfg.kind, item.name), self.function.namespace, self.debug
        )
        pool = WorkerPool(
            self._worker_factory(loaded, options),
            trigger_cfg.workers,
            wait_timeout=trigger_cfg.availability_timeout,
            stats=stats,
        )
        self.pools.append(pool)
        await pool.start()
        channel = None
        if item.sink_cls is not None:
            sink_stats = SinkStats(item.name, item.sink_kind or "")
            self.collector.sinks.append(sink_stats)
            logger = logging.getLogger(f"dh_serverless.sink.{item.sink_kind}")
            sink: Sink = item.sink_cls(
                SinkSpec(item.sink_kind or "", item.name, item.sink_attributes, logger)
            )
            await sink.start()
            observe = self.host.sink_emit if self.host.sink_emit_observed else None
            channel = SinkChannel(sink, sink_stats, observe=observe)
            channel.start()
            self.sinks.append(channel)
        dispatch = compose(
            middleware,
            build_dispatch(
                pool,
                self.gate,
                event_timeout=self.config.spec.event_timeout,
                stats=stats,
                sink=channel,
            ),
        )
        spec = TriggerSpec(
            name=item.name,
            kind=trigger_cfg.kind,
            attributes=item.attributes,
            function=self.function,
            workers=trigger_cfg.workers,
            logger=logging.getLogger(f"dh_serverless.trigger.{item.name}"),
            debug=self.debug,
            request_exit=self.request_exit,
        )
        trigger: Trigger = item.cls(spec)
        try:
            await trigger.start(dispatch)
        except OSError as exc:
            raise UserError(
                f"trigger {item.name} ({trigger_cfg.kind}) cannot start: {exc}"
            ) from exc
        self.triggers.append(trigger)
        self.host.trigger_started(trigger)

    def _worker_factory(self, loaded: LoadedHandler, options: WorkerOptions) -> Any:
        kind = self.config.spec.worker_kind
        if kind == "process":
            from dh_serverless.core.processes import ProcessWorker  # only when asked for

            def make_process(i: int) -> Worker:
                return ProcessWorker(loaded, i, options)

            return make_process
        worker_cls = AsyncWorker if loaded.is_async else ThreadWorker
        return lambda i: worker_cls(loaded, i, options)

    async def shutdown(self) -> None:
        """Drain: refuse new events, finish in-flight ones within the grace period,
        run drain and termination callbacks, stop sinks and workers."""
        if self.state == "stopped":
            return
        self.state = "draining"
        self.gate.open = False
        grace = float(self.config.spec.graceful_shutdown_timeout)
        # Drain callbacks start first, but the triggers stop meanwhile: a process worker runs
        # its callback only after its in-flight event, which must not delay the grace period.
        drains = asyncio.gather(*(p.drain() for p in self.pools), return_exceptions=True)
        results = await asyncio.gather(
            *(asyncio.wait_for(t.stop(grace), grace + 5) for t in reversed(self.triggers)),
            return_exceptions=True,
        )
        try:
            await asyncio.wait_for(drains, 5.0)
        except TimeoutError:
            _log.error("drain callbacks still running 5s after the triggers stopped")
        for trigger, result in zip(reversed(self.triggers), results, strict=True):
            if isinstance(result, BaseException):
                _log.error(
                    "trigger %s did not stop cleanly: %s",
                    trigger.name,
                    result or type(result).__name__,
                )
            self.host.trigger_stopped(trigger)
        for channel in self.sinks:
            await channel.close(min(grace, 5.0))
            try:
                await channel.sink.stop()
            except Exception as exc:  # noqa: BLE001
                _log.error("sink %s did not stop cleanly: %s", channel.sink.kind, exc)
        await asyncio.gather(*(p.close() for p in self.pools), return_exceptions=True)
        if self.health is not None:
            await self.health.stop()
        self.state = "stopped"
        _log.info("function %s stopped", self.function.name)
