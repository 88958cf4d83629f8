"""Start and stop one function: plugins, workers, sinks, triggers, health, signals."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dh_serverless.core import config as cfg
from dh_serverless.core.compat import TIMEOUT_ERRORS
from dh_serverless.core.dispatch import Gate, SinkChannel, build_dispatch, compose
from dh_serverless.core.errors import ConfigError, UserError
from dh_serverless.core.function import LoadedHandler, load_handler
from dh_serverless.core.memory import keep_freed_memory
from dh_serverless.core.metrics import EventStats, RuntimeCollector, SinkStats, make_registry
from dh_serverless.core.plugins import PluginHost
from dh_serverless.core.pool import WorkerPool
from dh_serverless.core.prepare import (
    PreparedTrigger,
    apply_env,
    prepare_triggers,
    serving_process_count,
    trigger_options,
)
from dh_serverless.core.responses import to_response
from dh_serverless.core.serving.limits import listener_timeouts
from dh_serverless.core.workers import AsyncWorker, ThreadWorker, Worker, WorkerOptions
from dh_serverless.hookspecs.metrics import Metrics
from dh_serverless.hookspecs.protocols import FunctionInfo, Sink, SinkSpec, Trigger, TriggerSpec
from dh_serverless.hookspecs.types import TriggerInfo

if TYPE_CHECKING:
    from dh_serverless.core.health import HealthServer
    from dh_serverless.core.serving_processes import ChildRole, ServingProcesses

__all__ = ("Runtime",)

_log = logging.getLogger("dh_serverless.runtime")


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
        one_shot_health: bool = True,
        host: PluginHost | None = None,
        processes: int | None = None,
        role: ChildRole | None = None,
    ) -> None:
        """``health_port`` ``None`` starts no health server; with ``one_shot_health`` false,
        neither does a function whose every trigger is one-shot (a job: its exit code is
        its outcome, and it spares the import of the HTTP stack). ``processes`` overrides
        ``spec.processes`` (``--processes``); ``role`` is set in a serving process the
        runtime spawned (:mod:`dh_serverless.core.serving_processes`)."""
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
        self.metrics = Metrics()  #: the plugins' families, exported beside the core's
        self._health_address = None if health_port is None else (health_host, health_port)
        self._one_shot_health = one_shot_health
        self.health: HealthServer | None = None
        self.gate = Gate()
        self.state = "starting"
        self.triggers: list[Trigger] = []
        self.pools: list[WorkerPool] = []
        self.sinks: list[SinkChannel] = []
        self._exit: asyncio.Future[int] | None = None
        self._processes = processes
        self.role = role
        #: the children of a function served from several processes (in the parent)
        self.children: ServingProcesses | None = None
        self.process_count = 1
        self._watch: asyncio.Task[None] | None = None
        self._prepared: list[PreparedTrigger] | None = None

    def prepare(self) -> list[PreparedTrigger]:
        """Load each trigger's plugin and structure its configuration (once); raise
        :class:`UserError` on a problem the user can fix. Needs no event loop."""
        if self._prepared is None:
            self._prepared = prepare_triggers(self.config, str(self.source), self.host)
        return self._prepared

    @property
    def one_shot(self) -> bool:
        """Whether every trigger is one-shot (a job): the function exits when they are done.
        Prepares the triggers first (:meth:`prepare`), so it may raise :class:`UserError`."""
        prepared = self.prepare()
        return bool(prepared) and all(i.options.one_shot for i in prepared)

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
        prepared = self.prepare()
        apply_env(self.config)
        try:  # every listener reads them when it starts: a bad value stops us here
            listener_timeouts()
        except ValueError as exc:
            raise ConfigError("environment", [str(exc)]) from None
        self.host.load_hook_plugins()
        one_shot = self.one_shot
        if not one_shot:
            keep_freed_memory()
        override = self._processes if self.role is None else self.role.count
        self.process_count = serving_process_count(
            self.config, prepared, str(self.source), override
        )
        if self.role is not None:
            await self._start_child_health()
        elif self.process_count > 1:
            await self._spawn_children()
        if (
            self.role is None
            and self._health_address is not None
            and not (one_shot and not self._one_shot_health)
        ):
            await self._start_health(*self._health_address)
        # Off the loop: a handler module that imports something heavy at module level
        # (DH Core's handler.py imports the DH SDK, 1-3 s) must not stall /live.
        loaded = await asyncio.to_thread(
            load_handler, self.handler_spec, self.source.resolve().parent, debug=self.debug
        )
        middleware = self.host.dispatch_middleware(self.function)
        for item in prepared:
            await self._start_trigger(item, loaded, middleware)
        if self.children is not None and not await self._children_ready():
            return  # asked to exit while the children were starting: run() shuts down
        self.state = "ready"
        _log.info(
            "function %s ready (handler %s, triggers: %s)",
            self.function.name,
            self.handler_spec,
            ", ".join(f"{t.name} ({t.kind})" for t in self.triggers),
        )

    async def _children_ready(self) -> bool:
        """Wait for every child to be ready; False when an exit was requested first."""
        assert self.children is not None
        waiting: asyncio.Future[Any] = asyncio.ensure_future(self.children.wait_ready())
        if self._exit is not None:
            exit_: asyncio.Future[Any] = self._exit
            await asyncio.wait({waiting, exit_}, return_when=asyncio.FIRST_COMPLETED)
            if not waiting.done():
                waiting.cancel()
                return False
        try:
            await waiting
        except OSError as exc:
            raise UserError(str(exc)) from None
        return True

    async def _spawn_children(self) -> None:
        from dh_serverless.core.serving_processes import ServingProcesses

        self.children = ServingProcesses(
            self.process_count,
            config=self.config,
            source=str(self.source),
            handler=self.handler_spec,
            debug=self.debug,
            on_death=self._child_died,
        )
        await self.children.spawn()

    def _child_died(self, index: int, code: int | None) -> None:
        _log.error(
            "serving process %d exited with code %s: stopping the function (exit code 1)",
            index,
            code,
        )
        self.request_exit(1)

    async def _start_child_health(self) -> None:
        from dh_serverless.core.health import HealthServer
        from dh_serverless.core.serving_processes import watch_parent

        assert self.role is not None
        self.process_count = self.role.count
        self.health = HealthServer(
            "",
            0,
            is_ready=self._readiness,
            registry=make_registry(self.collector, self.metrics, defaults=False),
            unix_path=self.role.health_socket,
        )
        await self.health.start()
        self._watch = asyncio.get_running_loop().create_task(
            watch_parent(self.role.parent, self.request_exit)
        )

    async def _start_health(self, host: str, port: int) -> None:
        from dh_serverless.core.health import HealthServer  # the HTTP stack, only when served

        self.health = HealthServer(
            host,
            port,
            is_ready=self._readiness,
            registry=make_registry(self.collector, self.metrics),
            children=self.children,
        )
        await self.health.start()  # a port in use: ListenError, worded for the user
        _log.info("health server on %s:%d (/live, /ready, /metrics)", host, self.health.port)

    async def _start_trigger(
        self, item: PreparedTrigger, loaded: LoadedHandler, middleware: list[Any]
    ) -> None:
        trigger_cfg = item.config
        stats = EventStats(item.name, trigger_cfg.kind)
        self.collector.events.append(stats)
        spec = TriggerSpec(
            name=item.name,
            kind=trigger_cfg.kind,
            attributes=item.attributes,
            function=self.function,
            workers=trigger_cfg.workers,
            logger=logging.getLogger(f"dh_serverless.trigger.{item.name}"),
            debug=self.debug,
            request_exit=self.request_exit,
            metrics=self.metrics,
            processes=self.process_count,
            process=0 if self.role is None else self.role.index,
        )
        # Constructed before its workers start: its options (read once, here) shape them.
        trigger: Trigger = item.cls(spec)
        trigger_opts = trigger_options(trigger, trigger_cfg.kind)
        options = WorkerOptions(
            TriggerInfo(trigger_cfg.kind, item.name),
            self.function.namespace,
            self.debug,
            trigger_opts.result_converter or to_response,
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
            sink_spec = SinkSpec(
                item.sink_kind or "", item.name, item.sink_attributes, logger, self.metrics
            )
            sink: Sink = item.sink_cls(sink_spec)
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
                sink_order_wait=trigger_opts.sink_order_wait,
            ),
        )
        try:
            await trigger.start(dispatch)
        except UserError:
            raise  # worded for the user already (a port in use names the listener)
        except OSError as exc:
            raise UserError(  # the reason without "[Errno N]" when it has one
                f"trigger {item.name} ({trigger_cfg.kind}) cannot start: {exc.strerror or exc}"
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
        children = None
        if self.children is not None:  # they drain while this process does
            children = asyncio.ensure_future(self.children.stop(grace + 5.0))
        # Drain callbacks start first, but the triggers stop meanwhile: a process worker runs
        # its callback only after its in-flight event, which must not delay the grace period.
        drains = asyncio.gather(*(p.drain() for p in self.pools), return_exceptions=True)
        results = await asyncio.gather(
            *(asyncio.wait_for(t.stop(grace), grace + 5) for t in reversed(self.triggers)),
            return_exceptions=True,
        )
        try:
            await asyncio.wait_for(drains, 5.0)
        except TIMEOUT_ERRORS:
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
        if children is not None:
            await children
        if self._watch is not None:
            self._watch.cancel()
        if self.health is not None:
            await self.health.stop()
        self.state = "stopped"
        _log.info("function %s stopped", self.function.name)
