"""What a trigger and a sink are to the core (``typing.Protocol``, checked structurally).

A trigger distribution registers its class under the ``dh_serverless.triggers``
entry-point group, a sink under ``dh_serverless.sinks``; the entry-point name is the
``kind`` users write in ``function.yaml``. The core structures the ``attributes`` of
the trigger or sink into the class's ``attributes_type`` (an attrs class) and calls the
class with a :class:`TriggerSpec` or :class:`SinkSpec`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import attrs

from dh_serverless.hookspecs.metrics import Metrics

if TYPE_CHECKING:
    from dh_serverless.hookspecs.types import Dispatch, Event, Response

__all__ = ("FunctionInfo", "ResultConverter", "Sink", "SinkSpec", "Trigger", "TriggerSpec")

#: ``(handler result) -> Response``: a trigger's own conversion of what its handler returned.
ResultConverter = Callable[[Any], "Response"]


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
    :param workers: how many workers serve this trigger (``maxWorkers``).
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


@runtime_checkable
class Trigger(Protocol):
    """Turns what arrives (requests, messages, frames) into events for ``dispatch``.

    The class is constructed with a :class:`TriggerSpec`; ``attributes_type`` names the
    attrs class its ``attributes`` are structured into.

    Optional attributes change what the core does for the trigger (read once, before
    ``start``; leave them out for Nuclio's ways):

    ``one_shot`` (class attribute, ``bool``)
        The trigger does its work once and then calls ``spec.request_exit`` (a job). A
        function whose every trigger is one-shot starts no health server unless the user
        asked for one (``--health-port`` or ``DH_SERVERLESS_HEALTH_PORT``): its exit code is
        its outcome, and it starts without importing the HTTP stack.

    ``result_converter`` (class attribute, ``staticmethod(fn)``)
        A module-level :data:`ResultConverter` that replaces Nuclio's conversion of the
        handler's return value (``dh_serverless.core.responses.to_response``, which ``fn``
        may call for results it does not handle). The core calls it where the handler
        ran: on the event loop, on the worker's thread, or in the worker process (imported
        there by ``fn.__module__`` and ``fn.__qualname__``). The ``Response.body`` it
        returns may be any picklable object: between processes it travels with pickle
        protocol 5, numpy arrays and other buffers as raw out-of-band frames (so does a
        non-``bytes`` ``event.body`` on the way in). When the handler or ``fn`` raises,
        ``dispatch`` resolves to the usual error response (status 500, ``bytes`` body).

    ``sink_order_wait`` (instance attribute, seconds or ``None``)
        When set, the trigger's sink receives successful responses in the order
        ``dispatch`` was called, not in completion order. An event that fails or answers
        400 or more frees its place at once; one still running ``sink_order_wait`` seconds
        after a later one finished is skipped, and dropped when it completes (counted in
        ``dh_sink_dropped_total{reason="late"}``).

    ``serving_processes`` (class attribute, ``"shared_port"`` or ``"port_each"``)
        The trigger can serve from several processes (``spec.processes``; without the
        attribute, a function with this trigger refuses ``processes`` above 1). With
        ``"shared_port"`` every process binds the same port with ``SO_REUSEPORT`` and the
        kernel spreads connections (HTTP/1 and gRPC clients that open many); with
        ``"port_each"`` process ``spec.process`` serves ``port + spec.process`` (one
        HTTP/2 peer such as Envoy, whose single connection would reach one process only).
    """

    attributes_type: ClassVar[type]
    name: str
    kind: str

    async def start(self, dispatch: Dispatch) -> None:
        """Bind listeners and begin handing events to ``dispatch``; return once serving.

        ``dispatch(event)`` resolves to the converted :class:`Response` or raises a
        :class:`~dh_serverless.hookspecs.errors.DispatchError` (busy, timeout, lost,
        shutting down) that the trigger maps to its protocol's answer.
        While the runtime drains, ``dispatch`` refuses new events with
        ``ShuttingDownError`` but still takes one whose ``continuation`` attribute the
        trigger set to ``True`` (``event.continuation = True``): a later message of work
        already in flight, such as the next phase of a stream.
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
        """Send one response on. ``event`` carries metadata (frame number, timestamp).
        An exception is logged and counted; the next item is still emitted. When
        ``event.timestamp`` is a timezone-aware ``datetime`` (the arrival time), the core
        records the item's age once ``emit`` returns (``dh_sink_age_seconds``)."""

    async def stop(self) -> None:
        """Close listeners and connections. Called once, after the trigger stopped."""
