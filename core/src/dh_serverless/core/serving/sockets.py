"""What the TCP stream and UDP datagram listeners share: the address they bind, how a bind
fails, the drop counts on ``/metrics`` and the lifecycle (started guard, drain then cancel).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable

from dh_serverless.core.serving.addresses import (
    bind_reason,
    check_shared_port,
    format_address,
    listen_error,
)
from dh_serverless.core.serving.lifecycle import Lifecycle
from dh_serverless.hookspecs.metrics import Counter, CounterCell, Metrics

__all__ = ("ListenerCounts", "SocketListener")

_log = logging.getLogger("dh_serverless.serving")


class ListenerCounts:
    """A listener's drops by reason, as plain numbers and, when given, on ``/metrics``.

    :param metrics: the runtime's registry (``TriggerSpec.metrics``), or ``None``.
    :param trigger: the trigger's name (label ``trigger``).
    :param transport: ``"tcp"`` or ``"udp"`` (label ``transport``).
    :param active: read at each scrape: open connections or datagrams being handled.
    :param reasons: the reasons shown (at 0) before their first drop.
    """

    __slots__ = ("_cells", "_family", "_transport", "_trigger", "dropped")

    def __init__(
        self,
        metrics: Metrics | None,
        trigger: str,
        transport: str,
        active: Callable[[], float],
        reasons: tuple[str, ...] = (),
    ) -> None:
        self.dropped: dict[str, int] = {}
        self._trigger, self._transport = trigger, transport
        self._family: Counter | None = None
        self._cells: dict[str, CounterCell] = {}
        if metrics is not None:
            self._family = metrics.counter(
                "dh_listener_dropped",
                "Connections, messages or datagrams a listener dropped, by reason",
                ("trigger", "transport", "reason"),
            )
            gauge = metrics.gauge(
                "dh_listener_active",
                "Open connections (tcp) or datagrams being handled (udp)",
                ("trigger", "transport"),
            )
            gauge.labels(trigger, transport).set_function(active)
            for reason in reasons:
                self._cells[reason] = self._family.labels(trigger, transport, reason)

    def drop(self, reason: str) -> None:
        """Count one drop for ``reason``."""
        self.dropped[reason] = self.dropped.get(reason, 0) + 1
        if self._family is not None:
            cell = self._cells.get(reason)
            if cell is None:
                cell = self._cells[reason] = self._family.labels(
                    self._trigger, self._transport, reason
                )
            cell.inc()


class SocketListener:
    """The base of :class:`~.stream.StreamListener` and :class:`~.datagram.DatagramListener`.

    :param active: read at each scrape: open connections or datagrams being handled.
    """

    transport = ""  #: ``"tcp"`` or ``"udp"``: the ``transport`` label, and how errors name it
    reasons: tuple[str, ...] = ()  #: the drop reasons shown on ``/metrics`` from the start
    socket_type = socket.SOCK_STREAM

    def __init__(
        self,
        host: str,
        port: int,
        *,
        reuse_port: bool,
        metrics: Metrics | None,
        trigger: str,
        logger: logging.Logger | None,
        active: Callable[[], float],
    ) -> None:
        self.host = host
        self.requested_port = port
        self.port: int | None = None  #: the port bound, once started
        self.trigger = trigger
        self._reuse_port = reuse_port
        self._logger = logger or _log
        what = self.transport.upper()
        # the started guard and the work in flight, drained then cancelled by stop()
        self._life = Lifecycle(
            f"{what} listener {trigger!r}" if trigger else f"{what} listener", logger
        )
        #: drops by reason (:attr:`reasons`)
        self.counts = ListenerCounts(metrics, trigger, self.transport, active, self.reasons)

    @property
    def address(self) -> str:
        """``host:port`` as bound (``[host]:port`` for IPv6), or as asked before start."""
        return format_address(self.host, self.port or self.requested_port)

    def _starting(self) -> None:
        """Check the port may be shared and mark the listener started (``RuntimeError``
        when it runs already)."""
        check_shared_port(self._reuse_port, self.host, self.requested_port, self.transport.upper())
        self._life.start()

    def _bind_failed(self, exc: OSError) -> OSError:
        """Forget the start and return the error to raise, in the operating system's words
        (uvloop's own are "could not bind to ...")."""
        self._life.abort()
        reason = bind_reason(self.host, self.requested_port, self.socket_type) or exc
        return listen_error(self.host, self.requested_port, self.transport.upper(), reason)
