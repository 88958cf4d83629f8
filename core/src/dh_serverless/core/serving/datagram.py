"""A UDP datagram listener: each datagram handled on its own task, bounded, drained on stop.

A trigger writes only what one datagram does::

    async def handle(data: bytes, peer: tuple[str, int]) -> None:
        response = await dispatch(factory.new(data))
        listener.send(response.body, peer)

    listener = DatagramListener(handle, host, port, max_in_flight=64)
    port = await listener.start()  # the bound port (for port 0)
    ...
    await listener.stop(grace=5.0)

What the listener does for it:

- **size**: a datagram longer than ``max_datagram_bytes`` is dropped
  (``reason="too_large"``), never handed to the handler;
- **bounded in flight**: at most ``max_in_flight`` datagrams are being handled at once;
  one arriving beyond is dropped (``reason="busy"``) rather than queued: UDP has no
  back-pressure, and a queue would only grow while the handler is slower than the sender;
- **drain on stop**: :meth:`DatagramListener.stop` stops receiving, lets the datagrams
  being handled finish for ``grace`` seconds, then cancels them.

Each drop is counted in ``dh_listener_dropped_total{trigger,transport="udp",reason}`` and
datagrams in flight in ``dh_listener_active{trigger,transport="udp"}`` when ``metrics`` is
given. A handler that raises is logged, the first failure and then one in a hundred at
warning level (a stream of bad datagrams would otherwise write a line each), the others at
debug level.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from dh_serverless.core.serving.addresses import format_address
from dh_serverless.core.serving.sockets import SocketListener
from dh_serverless.hookspecs.metrics import Metrics

__all__ = ("MAX_UDP_PAYLOAD", "DatagramListener")

#: the largest UDP payload over IPv4 (65,535 - 8 byte UDP header - 20 byte IP header)
MAX_UDP_PAYLOAD = 65507

Handler = Callable[[bytes, Any], Awaitable[None]]


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, listener: DatagramListener) -> None:
        self.listener = listener

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.listener._received(data, addr)

    def error_received(self, exc: Exception) -> None:
        # An ICMP error for an earlier send (port unreachable): nothing to do but note it.
        self.listener._logger.debug("UDP listener %s: %s", self.listener.address, exc)


class DatagramListener(SocketListener):
    """A UDP listener that runs ``handler(data, peer)`` for every datagram it accepts.

    :param handler: ``async handler(data, peer)``; ``peer`` is the sender's address, to
        answer with :meth:`send`.
    :param host: the address to bind.
    :param port: the port, ``0`` for any free one (:attr:`port` tells which).
    :param max_datagram_bytes: the largest datagram handed to the handler.
    :param max_in_flight: datagrams handled at once; beyond, new ones are dropped.
    :param reuse_port: set ``SO_REUSEPORT`` (several serving processes on one port).
    :param metrics: the runtime's registry, for drop counts and datagrams in flight.
    :param trigger: the trigger's name, labelling its metrics and log lines.
    :param logger: where handler errors are logged.
    """

    transport = "udp"
    reasons = ("too_large", "busy", "shutdown")  # shutdown: arrived while stopping
    socket_type = socket.SOCK_DGRAM

    def __init__(
        self,
        handler: Handler,
        host: str,
        port: int,
        *,
        max_datagram_bytes: int = MAX_UDP_PAYLOAD,
        max_in_flight: int = 64,
        reuse_port: bool = False,
        metrics: Metrics | None = None,
        trigger: str = "",
        logger: logging.Logger | None = None,
    ) -> None:
        super().__init__(
            host, port, reuse_port=reuse_port, metrics=metrics, trigger=trigger, logger=logger,
            active=lambda: self._life.in_flight,
        )  # fmt: skip
        self._handler = handler
        self.max_datagram_bytes = max_datagram_bytes
        self.max_in_flight = max_in_flight
        self._transport: asyncio.DatagramTransport | None = None
        self._failures = 0

    @property
    def in_flight(self) -> int:
        """Datagrams being handled now."""
        return self._life.in_flight

    async def start(self) -> int:
        """Bind and start receiving; return the port bound.

        :raises OSError: the address cannot be bound (``cannot listen on HOST:PORT (UDP): ...``).
        :raises RuntimeError: started twice.
        """
        self._starting()
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Protocol(self),
                local_addr=(self.host, self.requested_port),
                reuse_port=self._reuse_port or None,
            )
        except OSError as exc:
            raise self._bind_failed(exc) from exc
        self._transport = transport
        self.port = int(transport.get_extra_info("sockname")[1])
        return self.port

    def send(self, data: bytes, peer: Any) -> None:
        """Send one datagram to ``peer`` (dropped silently once the listener is stopped)."""
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.sendto(data, peer)

    async def stop(self, grace: float) -> None:
        """Stop receiving; let datagrams being handled finish for ``grace`` seconds, then
        cancel them. Safe to call more than once, and before :meth:`start`."""
        if not self._life.begin_stop():
            return
        await self._life.drain(grace)
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()  # after the drain: handlers could still answer until now

    def _received(self, data: bytes, peer: Any) -> None:
        life = self._life
        if not life.running:
            self.counts.drop("shutdown")
            return
        if len(data) > self.max_datagram_bytes:
            self.counts.drop("too_large")
            return
        if life.in_flight >= self.max_in_flight:
            self.counts.drop("busy")
            return
        life.spawn(self._run(data, peer))

    async def _run(self, data: bytes, peer: Any) -> None:
        try:
            await self._handler(data, peer)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._failures += 1
            level = logging.WARNING if (self._failures - 1) % 100 == 0 else logging.DEBUG
            self._logger.log(
                level,
                "%s: datagram from %s failed: %s: %s",
                self.trigger or "UDP listener", _peer_text(peer), type(exc).__name__, exc,
                exc_info=exc if level == logging.WARNING else None,
            )  # fmt: skip


def _peer_text(peer: Any) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        return format_address(str(peer[0]), int(peer[1]))
    return str(peer)
