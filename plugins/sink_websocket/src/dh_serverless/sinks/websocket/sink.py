"""The ``websocket`` sink: results to WebSocket clients (server mode) or to a WebSocket
server (client mode)."""

from __future__ import annotations

from typing import ClassVar

from dh_serverless.hookspecs import Event, Response, SinkSpec
from dh_serverless.sinks.websocket._client import WebsocketClient
from dh_serverless.sinks.websocket._messages import Message, encode, metadata_json
from dh_serverless.sinks.websocket._server import WebsocketServer
from dh_serverless.sinks.websocket._stats import WebsocketStats
from dh_serverless.sinks.websocket.config import WebsocketAttributes

__all__ = ("WebsocketSink",)


class WebsocketSink:
    """Sends each successful response of a trigger as one WebSocket message.

    Server mode: ``emit`` queues the message for every connected client and returns at
    once; each client has its own bounded queue, so a slow client loses messages and
    never slows the others. Client mode: ``emit`` sends on the one connection (at most
    ``timeout`` seconds); while it is down results are dropped and counted. See
    :class:`~dh_serverless.sinks.websocket._stats.WebsocketStats` for the metrics.
    """

    attributes_type: ClassVar[type] = WebsocketAttributes
    kind = "websocket"

    def __init__(self, spec: SinkSpec) -> None:
        self.spec = spec
        self.attributes: WebsocketAttributes = spec.attributes
        self.stats = WebsocketStats(spec)
        self.server: WebsocketServer | None = None
        self.client: WebsocketClient | None = None
        if self.attributes.client_mode:
            self.client = WebsocketClient(self.attributes, spec.logger, self.stats)
        else:
            self.server = WebsocketServer(self.attributes, spec.logger, self.stats)

    async def start(self) -> None:
        """Server mode: listen (a port in use fails the start). Client mode: start dialling
        in the background (a peer that is down never fails the start)."""
        if self.server is not None:
            await self.server.start()
        elif self.client is not None:
            await self.client.start()

    async def emit(self, response: Response, event: Event) -> None:
        """Send one result (and its metadata message with ``sendMetadata``)."""
        message = encode(response, self.attributes.message_type)
        if message is None:
            self.stats.dropped["not_text"].inc()
            return
        item: tuple[Message, ...] = (message,)
        if self.attributes.send_metadata:
            item = ((True, metadata_json(response, event)), message)
        if self.server is not None:
            self.server.broadcast(item)
        elif self.client is not None:
            await self.client.send(item)

    async def stop(self) -> None:
        """Server mode: flush every client's queue (at most ``timeout`` seconds), close
        them with 1001. Client mode: close the connection with 1001."""
        if self.server is not None:
            await self.server.stop(min(float(self.attributes.timeout), 5.0))
        elif self.client is not None:
            await self.client.stop()
