"""What a trigger and a sink are to the core (``typing.Protocol``, checked structurally).

A trigger distribution registers its class under the ``dh_serverless.triggers``
entry-point group, a sink under ``dh_serverless.sinks``; the entry-point name is the
``kind`` users write in ``function.yaml``. The core structures the ``attributes`` of
the trigger or sink into the class's ``attributes_type`` (an attrs class) and calls the
class with a :class:`TriggerSpec` or :class:`SinkSpec`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, runtime_checkable

import attrs

from dh_serverless.hookspecs.metrics import Metrics

if TYPE_CHECKING:
    from dh_serverless.hookspecs.types import Dispatch, Event, Response

__all__ = (
    "FunctionInfo",
    "ResultConverter",
    "ServingProcesses",
    "Sink",
    "SinkSpec",
    "Trigger",
    "TriggerOptions",
    "TriggerSpec",
)

#: ``(handler result) -> Converted | Response``: a trigger's own conversion of what its
#: handler returned (see :attr:`TriggerOptions.result_converter`).
ResultConverter = Callable[[Any], "Response"]
#: How a trigger's serving processes share its port (see :attr:`TriggerOptions.serving_processes`).
ServingProcesses = Literal["shared_port", "port_each"]


@attrs.frozen
class FunctionInfo:
    """The function being served, for logs, metadata and protocol answers."""

    name: str
    namespace: str = "default"
    handler: str = ""
    version: str = ""


@attrs.frozen
class TriggerSpec:
    """Everything the core resolved for one trigger before constructing it.

    :param name: the trigger's key under ``spec.triggers``.
    :param kind: the entry-point name (``http``).
    :param attributes: an instance of the trigger class's ``attributes_type``.
    :param function: the function being served.
    :param workers: how many workers serve this trigger: the trigger's ``numWorkers``,
        else ``maxWorkers`` (Nuclio's older key), else 1.
    :param logger: the logger to write to (``dh_serverless.trigger.<name>``).
    :param debug: ``--debug`` was given: errors may carry tracebacks.
    :param request_exit: ask the runtime to stop everything and exit with this code
        (a one-shot trigger such as ``job`` calls it when its work is done).
    :param metrics: the runtime's metrics registry, exported on ``/metrics``: create the
        trigger's own families here at start-up (see :mod:`dh_serverless.hookspecs.metrics`).
        Built by hand (tests), it is a fresh registry that nothing scrapes.
    :param processes: how many processes serve the function (``spec.processes``); above 1,
        a ``"shared_port"`` trigger binds its ports with ``SO_REUSEPORT`` (and refuses
        port ``0``), a ``"port_each"`` trigger serves ``port + process``.
    :param process: this process's index, ``0`` (the parent) to ``processes - 1``.
    """

    name: str
    kind: str
    attributes: Any
    function: FunctionInfo
    workers: int = 1
    logger: logging.Logger = attrs.field(factory=lambda: logging.getLogger("dh_serverless"))
    debug: bool = False
    request_exit: Callable[[int], None] = lambda code: None
    metrics: Metrics = attrs.field(factory=Metrics)
    processes: int = 1
    process: int = 0


@attrs.frozen
class SinkSpec:
    """Everything the core resolved for one sink before constructing it.

    :param kind: the entry-point name (``webhook``).
    :param trigger: the name of the trigger whose responses this sink receives.
    :param attributes: an instance of the sink class's ``attributes_type``.
    :param logger: the logger to write to (``dh_serverless.sink.<kind>``).
    :param metrics: the runtime's metrics registry, as :attr:`TriggerSpec.metrics`.
    """

    kind: str
    trigger: str
    attributes: Any
    logger: logging.Logger = attrs.field(factory=lambda: logging.getLogger("dh_serverless"))
    metrics: Metrics = attrs.field(factory=Metrics)


_MISSING = object()


@attrs.frozen
class TriggerOptions:
    """The options a trigger may declare to change what the core does for it.

    Each is optional: a trigger declares one by defining the attribute of the same name
    (a class attribute, or for ``sink_order_wait`` an instance attribute set in
    ``__init__``); left out, the default below applies (Nuclio's ways). The core reads
    them once with :meth:`of`: on the trigger's class when the function's plugins are
    loaded, before anything starts (``one_shot``, ``serving_processes``), and on the
    constructed trigger before its workers start (``result_converter``,
    ``sink_order_wait``). A value of the wrong type stops the function with a clear error.
    """

    #: Class attribute. The trigger does its work once and then calls
    #: ``spec.request_exit`` (a job). A function whose every trigger is one-shot starts no
    #: health server unless the user asked for one (``--health-port`` or
    #: ``DH_SERVERLESS_HEALTH_PORT``): its exit code is its outcome, and it starts without
    #: importing the HTTP stack.
    one_shot: bool = False

    #: Class attribute. The trigger can serve from several processes (``spec.processes``;
    #: ``None``: a function with this trigger refuses ``processes`` above 1). With
    #: ``"shared_port"`` every process binds the same port with ``SO_REUSEPORT`` and the
    #: kernel spreads connections (HTTP/1 and gRPC clients that open many); with
    #: ``"port_each"`` process ``spec.process`` serves ``port + spec.process`` (one HTTP/2
    #: peer such as Envoy, whose single connection would reach one process only).
    serving_processes: ServingProcesses | None = None

    #: Class attribute, ``staticmethod(fn)``. A module-level :data:`ResultConverter` that
    #: replaces Nuclio's conversion of the handler's return value
    #: (``dh_serverless.core.api.to_response``, which ``fn`` may call for results it does
    #: not handle). ``fn`` returns a :class:`~dh_serverless.hookspecs.types.Converted`
    #: carrying the converted ``value`` (any picklable object: between processes it
    #: travels with pickle protocol 5, numpy arrays and other buffers as raw out-of-band
    #: frames, as does a non-``bytes`` ``event.body`` on the way in), or a ``Response``
    #: with a ``bytes`` body (an error answer). The core calls it where the handler ran: on
    #: the event loop, on the worker's thread, or in the worker process (imported there by
    #: ``fn.__module__`` and ``fn.__qualname__``). When the handler or ``fn`` raises, or
    #: ``fn`` returns anything else, ``dispatch`` resolves to the usual error response
    #: (status 500, ``bytes`` body). ``None``: Nuclio's conversion.
    result_converter: ResultConverter | None = None

    #: Instance attribute (seconds), so that it may come from the trigger's attributes.
    #: When set, the trigger's sink receives successful responses in the order
    #: ``dispatch`` was called, not in completion order. An event that fails or answers
    #: 400 or more frees its place at once; one still running ``sink_order_wait`` seconds
    #: after a later one finished is skipped, and dropped when it completes (counted in
    #: ``dh_sink_dropped_total{reason="late"}``). ``None``: completion order.
    sink_order_wait: float | None = None

    @classmethod
    def of(cls, trigger: object) -> TriggerOptions:
        """The options ``trigger`` (a trigger class or a constructed trigger) declares.

        An instance's own attribute wins over its class's; a function declared on the
        class is taken as the class holds it (a plain function is not bound).

        :raises TypeError: an option has a value of the wrong type; the message names the
            trigger class and the option.
        """
        owner: type = trigger if isinstance(trigger, type) else type(trigger)
        instance = owner is not trigger
        own: dict[str, Any] = getattr(trigger, "__dict__", {}) if instance else {}
        values: dict[str, Any] = {}
        for field in attrs.fields(cls):
            value = own.get(field.name, _MISSING)
            if value is _MISSING:  # as the class holds it: a function is not bound
                value = inspect.getattr_static(owner, field.name, _MISSING)
                if instance and hasattr(type(value), "__set__"):  # a slot or a property
                    try:
                        value = value.__get__(trigger, owner)
                    except AttributeError:  # a slot never set
                        value = _MISSING
            if isinstance(value, staticmethod):
                value = value.__func__
            if value is not _MISSING:
                values[field.name] = value
        options = cls(**values)
        options._check(owner.__qualname__)
        return options

    def _check(self, owner: str) -> None:
        def wrong(name: str, expected: str, value: Any) -> TypeError:
            return TypeError(f"trigger class {owner}: {name} is {value!r}; expected {expected}")

        if not isinstance(self.one_shot, bool):
            raise wrong("one_shot", "True or False", self.one_shot)
        if self.serving_processes not in (None, "shared_port", "port_each"):
            raise wrong("serving_processes", '"shared_port" or "port_each"', self.serving_processes)
        convert = self.result_converter
        if convert is not None and (
            not callable(convert) or "<" in getattr(convert, "__qualname__", "<")
        ):
            raise wrong(
                "result_converter",
                "a module-level function (process workers import it by name)",
                convert,
            )
        wait = self.sink_order_wait
        if wait is not None and (
            isinstance(wait, bool) or not isinstance(wait, (int, float)) or not wait > 0
        ):
            raise wrong("sink_order_wait", "a number of seconds above 0, or None", wait)


@runtime_checkable
class Trigger(Protocol):
    """Turns what arrives (requests, messages, frames) into events for ``dispatch``.

    The class is constructed with a :class:`TriggerSpec`; ``attributes_type`` names the
    attrs class its ``attributes`` are structured into.

    Optional attributes change what the core does for the trigger; each is declared, with
    its default and meaning, in :class:`TriggerOptions` (the core reads them once with
    ``TriggerOptions.of``; leave them out for Nuclio's ways):

    - ``one_shot`` (class attribute, ``bool``): a job, which exits when its work is done;
    - ``serving_processes`` (class attribute, ``"shared_port"`` or ``"port_each"``): how
      the function's serving processes share the trigger's port;
    - ``result_converter`` (class attribute, ``staticmethod(fn)``): the handler's result
      in the trigger's own form, delivered as a :class:`~dh_serverless.hookspecs.types.Converted`;
    - ``sink_order_wait`` (instance attribute, seconds): results reach the sink in
      dispatch order.
    """

    attributes_type: ClassVar[type]
    name: str
    kind: str

    async def start(self, dispatch: Dispatch) -> None:
        """Bind listeners and begin handing events to ``dispatch``; return once serving.

        ``await dispatch(event)`` resolves to the converted :class:`Response` or raises a
        :class:`~dh_serverless.hookspecs.errors.DispatchError` (busy, timeout, lost,
        shutting down) that the trigger maps to its protocol's answer.
        While the runtime drains, ``dispatch`` refuses new events with
        ``ShuttingDownError`` but still takes one dispatched with
        ``dispatch(event, continuation=True)``: a later message of work already in
        flight, such as the next phase of a stream.
        """

    async def stop(self, timeout: float) -> None:
        """Stop taking new work, let in-flight events finish for up to ``timeout`` seconds,
        cancel what is left and release every resource. Called once, during shutdown."""


@runtime_checkable
class Sink(Protocol):
    """Receives the successful responses of one trigger (processed frames, results).

    The core feeds it from a bounded queue, so ``emit`` may take its time without
    blocking the trigger; when the queue is full the oldest item is dropped and counted.
    """

    attributes_type: ClassVar[type]
    kind: str

    async def start(self) -> None:
        """Open listeners or connections. A sink whose peer is down should still start
        and retry in the background rather than fail the function."""

    async def emit(self, response: Response, event: Event) -> None:
        """Send one response on (its ``bytes`` body; from a trigger with a
        ``result_converter``, a :class:`~dh_serverless.hookspecs.types.Converted` whose
        ``value`` is the converted result). ``event`` carries metadata (frame number,
        timestamp).
        An exception is logged and counted; the next item is still emitted. When
        ``event.timestamp`` is a timezone-aware ``datetime`` (the arrival time), the core
        records the item's age once ``emit`` returns (``dh_sink_age_seconds``)."""

    async def stop(self) -> None:
        """Close listeners and connections. Called once, after the trigger stopped."""
