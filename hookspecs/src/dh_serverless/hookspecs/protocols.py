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

if TYPE_CHECKING:
    from dh_serverless.hookspecs.types import Dispatch, Event, Response

__all__ = ("FunctionInfo", "Sink", "SinkSpec", "Trigger", "TriggerSpec")


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
    """

    name: str
    kind: str
    attributes: Any
    function: FunctionInfo
    workers: int = 1
    logger: logging.Logger = attrs.field(factory=lambda: logging.getLogger("dh_serverless"))
    debug: bool = False
    request_exit: Callable[[int], None] = lambda code: None


@attrs.frozen
class SinkSpec:
    """Everything the core resolved for one sink before constructing it.

    :param kind: the entry-point name (``webhook``).
    :param trigger: the name of the trigger whose responses this sink receives.
    :param attributes: an instance of the sink class's ``attributes_type``.
    :param logger: the logger to write to (``dh_serverless.sink.<kind>``).
    """

    kind: str
    trigger: str
    attributes: Any
    logger: logging.Logger = attrs.field(factory=lambda: logging.getLogger("dh_serverless"))


@runtime_checkable
class Trigger(Protocol):
    """Turns what arrives (requests, messages, frames) into events for ``dispatch``.

    The class is constructed with a :class:`TriggerSpec`; ``attributes_type`` names the
    attrs class its ``attributes`` are structured into.
    """

    attributes_type: ClassVar[type]
    name: str
    kind: str

    async def start(self, dispatch: Dispatch) -> None:
        """Bind listeners and begin handing events to ``dispatch``; return once serving.

        ``dispatch(event)`` resolves to the converted :class:`Response` or raises a
        :class:`~dh_serverless.hookspecs.errors.DispatchError` (busy, timeout, lost,
        shutting down) that the trigger maps to its protocol's answer.
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
        An exception is logged and counted; the next item is still emitted."""

    async def stop(self) -> None:
        """Close listeners and connections. Called once, after the trigger stopped."""
