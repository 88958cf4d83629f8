"""The ``udp`` trigger: its attributes and the trigger class."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from dh_serverless.core.api import DatagramListener, EventFactory, format_address, validators
from dh_serverless.hookspecs import Dispatch, DispatchError, TriggerInfo, TriggerSpec

__all__ = ("UdpAttributes", "UdpTrigger")


@attrs.frozen
class UdpAttributes:
    """``attributes`` of a ``udp`` trigger.

    :param host: the address to listen on.
    :param port: the UDP port (0: any free one, logged at start).
    :param max_datagram_bytes: longer datagrams are dropped and counted.
    :param max_in_flight: datagrams handled at once; more are dropped and counted.
    :param reply: send the handler's answer back to the sender.
    """

    host: str = "0.0.0.0"
    port: int = attrs.field(default=5140, validator=validators.port())
    max_datagram_bytes: int = attrs.field(default=65507, validator=validators.between(1, 65507))
    max_in_flight: int = attrs.field(default=64, validator=validators.positive())
    reply: bool = True


class UdpTrigger:
    """Hands every datagram to the handler (``event.body``: its bytes)."""

    kind: ClassVar[str] = "udp"
    attributes_type: ClassVar[type] = UdpAttributes
    serving_processes: ClassVar[str] = "shared_port"  # SO_REUSEPORT spreads the senders

    def __init__(self, spec: TriggerSpec) -> None:
        self.name = spec.name
        self.spec = spec
        self.attributes: UdpAttributes = spec.attributes
        self.port: int | None = None  # the port bound, once started
        self._listener: DatagramListener | None = None

    async def start(self, dispatch: Dispatch) -> None:
        """Bind the port and start handing datagrams to ``dispatch``."""
        a, events = self.attributes, EventFactory(TriggerInfo(self.kind, self.name))

        async def handle(data: bytes, peer: Any) -> None:
            event = events(data, headers={"Remote-Addr": format_address(*peer[:2])})
            try:
                response = await dispatch(event)
            except DispatchError:
                return  # counted by the core; UDP has no error answer
            if a.reply and response.status_code < 400 and response.body:
                listener.send(response.body, peer)

        listener = DatagramListener(
            handle, a.host, a.port,
            max_datagram_bytes=a.max_datagram_bytes, max_in_flight=a.max_in_flight,
            reuse_port=self.spec.processes > 1, metrics=self.spec.metrics,
            trigger=self.name, logger=self.spec.logger,
        )  # fmt: skip
        self.port = await listener.start()
        self._listener = listener
        self.spec.logger.info("udp trigger %s listening on %s", self.name, listener.address)

    async def stop(self, timeout: float) -> None:
        """Stop receiving; datagrams being handled get ``timeout`` seconds."""
        if self._listener is not None:
            await self._listener.stop(timeout)
