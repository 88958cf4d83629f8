"""A function run by the real runtime inside the test's event loop: no process, no port.

:class:`InProcessFunction` builds the ``function.yaml`` a test describes, runs it with
the runtime that ``dh-serverless run`` uses (plugins from their entry points, workers,
``eventTimeout``, the sink queue, metrics, drain) and stops it. Its triggers may include
the ``test`` trigger (:mod:`dh_serverless.testing.trigger`), which the test drives with
:meth:`InProcessFunction.push`; the default handler echoes what it was sent
(:func:`dh_serverless.testing.handlers.echo`), so what a test pushes is what a sink
receives::

    sink = {"kind": "websocket", "attributes": {"port": port}}
    async with InProcessFunction({"web": {"kind": "test", "attributes": {"sink": sink}}}) as fn:
        assert (await fn.push(b"frame", "image/jpeg", frame_num=1)).status_code == 200
        assert fn.metric("dh_websocket_sent", trigger="web") == 1   # what /metrics shows
        await fn.stop()                     # SIGTERM's drain: the sink flushes, then closes
    assert "websocket sink" in fn.log()

A problem ``dh-serverless run`` reports as ``error: ...`` with exit code 1 or 2 (a port in
use, a bad attribute) is raised from :meth:`start` as that
:class:`~dh_serverless.core.errors.UserError` (``exc.exit_code``). The pytest fixtures
``dh_sink_function`` and ``dh_trigger_function`` start one and stop it after the test.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from dh_serverless.core import config as cfg
from dh_serverless.core.converter import structure
from dh_serverless.core.logs import HumanFormatter
from dh_serverless.core.metrics import make_registry
from dh_serverless.core.plugins import SINKS, TRIGGERS, PluginHost
from dh_serverless.core.runtime import Runtime
from dh_serverless.hookspecs.types import Dispatch, Event, Response
from dh_serverless.testing.handlers import ECHO
from dh_serverless.testing.metrics import registry_value
from dh_serverless.testing.sockets import listening_ports
from dh_serverless.testing.trigger import KIND, PushTrigger

__all__ = ("InProcessFunction", "handler_spec")


def handler_spec(handler: str | Callable[..., Any]) -> str:
    """``module:function`` for a handler given as that string or as a module-level function."""
    if isinstance(handler, str):
        return handler
    module, name = getattr(handler, "__module__", None), getattr(handler, "__qualname__", "")
    if not module or not name.isidentifier():
        raise ValueError(f"{handler!r} is not a module-level function: pass 'module:function'")
    return f"{module}:{name}"


class _WatchingHost(PluginHost):
    """The runtime's plugin host, with the ``test`` trigger (and the test's own classes)
    provided and the ports each trigger binds in ``start`` recorded (``ports[name]``)."""

    def __init__(self, triggers: Mapping[str, type], sinks: Mapping[str, type]) -> None:
        super().__init__()
        self.ports: dict[str, list[int]] = {}
        self.provide(TRIGGERS, KIND, PushTrigger)
        for kind, cls in triggers.items():
            self.provide(TRIGGERS, kind, cls)
        for kind, cls in sinks.items():
            self.provide(SINKS, kind, cls)

    def load_kinds(self, group: str, kinds: Any) -> dict[str, type]:
        loaded = super().load_kinds(group, kinds)
        if group != TRIGGERS:
            return loaded
        return {kind: _watched(cls, self.ports) for kind, cls in loaded.items()}


def _watched(cls: type, record: dict[str, list[int]]) -> type:
    """A subclass of the trigger class ``cls`` that records the ports its ``start`` bound."""
    original = cls.start  # type: ignore[attr-defined]

    async def start(self: Any, dispatch: Dispatch) -> None:
        before = listening_ports()
        try:
            await original(self, dispatch)
        finally:
            record[self.name] = sorted(listening_ports() - before)

    namespace = {"start": start, "__module__": cls.__module__, "__qualname__": cls.__qualname__}
    return type(cls.__name__, (cls,), namespace)


class InProcessFunction:
    """One function served by the runtime in this event loop (see the module's text).

    :param triggers: ``spec.triggers`` as in ``function.yaml`` (``{"feed": {"kind":
        "test", "maxWorkers": 2, "attributes": {...}}}``).
    :param handler: ``module:function`` or a module-level function (default: the echo
        handler).
    :param spec: more ``spec`` keys (``eventTimeout``, ``workerKind``, ``env``, ...).
    :param folder: the function's folder (put on ``sys.path`` for the handler's module,
        as ``dh-serverless run`` does; default: the current folder).
    :param name: ``metadata.name``.
    :param log_level: the level of the ``dh_serverless`` loggers while it runs; what
        they write is kept for :meth:`log`.
    :param trigger_classes: ``{kind: class}`` used instead of installed entry points (a
        plugin class under development, or one a test defines).
    :param sink_classes: the same for sinks.
    """

    def __init__(
        self,
        triggers: Mapping[str, Mapping[str, Any]],
        *,
        handler: str | Callable[..., Any] = ECHO,
        spec: Mapping[str, Any] | None = None,
        folder: Path | None = None,
        name: str = "test",
        log_level: int = logging.INFO,
        trigger_classes: Mapping[str, type] | None = None,
        sink_classes: Mapping[str, type] | None = None,
    ) -> None:
        self.folder = folder or Path.cwd()
        self.source = self.folder / "function.yaml"
        data = {
            "apiVersion": "nuclio.io/v1",
            "kind": "NuclioFunction",
            "metadata": {"name": name},
            "spec": {**(spec or {}), "handler": handler_spec(handler),
                     "triggers": {k: dict(v) for k, v in triggers.items()}},
        }  # fmt: skip
        self.config = structure(data, cfg.FunctionConfig, source=str(self.source))
        cfg._check(self.config, str(self.source))
        self.host = _WatchingHost(trigger_classes or {}, sink_classes or {})
        self.runtime = Runtime(self.config, self.source, host=self.host, health_port=None)
        self.registry = make_registry(self.runtime.collector, self.runtime.metrics, defaults=False)
        self._log_level = log_level
        self._lines: list[str] = []
        self._handler = _ListHandler(self._lines)
        self._logger = logging.getLogger("dh_serverless")
        self._saved_level = self._logger.level
        self._started = False

    # -- lifecycle ------------------------------------------------------------

    async def start(self) -> InProcessFunction:
        """Start everything, as ``dh-serverless run`` does up to ``ready``; raise its
        ``UserError`` (what the command prints, with ``exc.exit_code``) on a problem."""
        if self._started:
            raise RuntimeError("already started")
        self._started = True
        self._logger.addHandler(self._handler)
        self._logger.setLevel(self._log_level)
        try:
            await self.runtime.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def stop(self) -> None:
        """Drain as on SIGTERM (triggers, workers, then the sinks flush and close); the
        captured log stays readable. Safe to call twice."""
        try:
            await self.runtime.shutdown()
        finally:
            self._logger.removeHandler(self._handler)
            self._logger.setLevel(self._saved_level)

    async def __aenter__(self) -> InProcessFunction:
        return await self.start()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- what the test drives ---------------------------------------------------

    @property
    def triggers(self) -> dict[str, Any]:
        """The started triggers by name."""
        return {t.name: t for t in self.runtime.triggers}

    def trigger(self, name: str | None = None) -> Any:
        """The started trigger ``name`` (by default the only one)."""
        triggers = self.triggers
        if name is None:
            if len(triggers) != 1:
                raise LookupError(f"name one of the triggers: {', '.join(sorted(triggers))}")
            return next(iter(triggers.values()))
        try:
            return triggers[name]
        except KeyError:
            started = ", ".join(sorted(triggers))
            raise LookupError(f"no trigger {name!r}; started: {started}") from None

    def _pusher(self, name: str | None) -> PushTrigger:
        if name is not None:
            trigger = self.trigger(name)
            if not isinstance(trigger, PushTrigger):
                raise TypeError(f"trigger {name!r} is a {trigger.kind} trigger, not {KIND!r}")
            return trigger
        pushers = [t for t in self.runtime.triggers if isinstance(t, PushTrigger)]
        if len(pushers) != 1:
            raise LookupError(f"the function has {len(pushers)} {KIND!r} triggers: name one")
        return pushers[0]

    async def push(
        self,
        body: bytes | str | Event = b"",
        content_type: str = "application/octet-stream",
        *,
        trigger: str | None = None,
        path: str = "/",
        headers: dict[str, Any] | None = None,
        **fields: Any,
    ) -> Response:
        """Push one event through the ``test`` trigger (the only one unless ``trigger``
        names it); keyword arguments become ``event.fields``. Returns the response, or
        raises the runtime's ``DispatchError``. See :meth:`PushTrigger.push`."""
        pusher = self._pusher(trigger)
        return await pusher.push(body, content_type, path=path, headers=headers, **fields)

    # -- what the test reads ------------------------------------------------------

    def ports(self, trigger: str | None = None) -> list[int]:
        """The ports the trigger (by default the only one) bound when it started: with
        ``port: 0`` in its attributes, the one the kernel gave it."""
        return self.host.ports.get(self.trigger(trigger).name, [])

    @property
    def port(self) -> int:
        """The one port the only trigger bound (``LookupError`` if none or several)."""
        ports = self.ports()
        if len(ports) != 1:
            raise LookupError(f"the trigger bound {len(ports)} ports ({ports}): use ports()")
        return ports[0]

    def metric(self, name: str, **labels: str) -> float:
        """The value ``/metrics`` would show for ``name`` (``dh_events`` or
        ``dh_events_total``) summed over the samples whose labels include ``labels``;
        ``MetricNotFound`` if nothing exports it (see :mod:`dh_serverless.testing.metrics`)."""
        return registry_value(self.registry, name, **labels)

    def metrics_text(self) -> str:
        """The function's ``/metrics`` page (without the process collectors)."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry).decode()

    def log(self) -> str:
        """What the ``dh_serverless`` loggers wrote so far, one line per record."""
        return "\n".join(self._lines)


class _ListHandler(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__()
        self.lines = lines
        self.setFormatter(HumanFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # noqa: BLE001 - as logging.Handler.handleError, without the noise
            self.lines.append(record.getMessage())
