"""The ``lines`` trigger: its attributes and the trigger class."""

from __future__ import annotations

from typing import ClassVar

import attrs

from dh_serverless.core.api import (
    Connection,
    Duration,
    EventFactory,
    MessageTooLarge,
    StreamListener,
    validators,
)  # fmt: skip
from dh_serverless.hookspecs import Dispatch, DispatchError, TriggerInfo, TriggerSpec

__all__ = ("LinesAttributes", "LinesTrigger")


@attrs.frozen
class LinesAttributes:
    """``attributes`` of a ``lines`` trigger.

    :param host: the address to listen on.
    :param port: the TCP port (0: any free one, logged at start).
    :param max_connections: connections open at once; more are closed at once.
    :param idle_timeout: a connection silent this long (seconds or ``"30s"``) is closed.
    :param max_line_bytes: a longer line is answered ``ERROR 413`` and skipped.
    """

    host: str = "0.0.0.0"
    port: int = attrs.field(default=7070, validator=validators.port())
    max_connections: int = attrs.field(default=256, validator=validators.positive())
    idle_timeout: Duration = attrs.field(default=Duration(60.0), validator=validators.positive())
    max_line_bytes: int = attrs.field(default=65536, validator=validators.positive())


class LinesTrigger:
    """Each line a client sends is an event; the answer is one line (``ERROR <status> ...``
    when the handler fails or the function cannot take the event)."""

    kind: ClassVar[str] = "lines"
    attributes_type: ClassVar[type] = LinesAttributes
    serving_processes: ClassVar[str] = "shared_port"  # SO_REUSEPORT spreads the connections

    def __init__(self, spec: TriggerSpec) -> None:
        self.name = spec.name
        self.spec = spec
        self.attributes: LinesAttributes = spec.attributes
        self.port: int | None = None  # the port bound, once started
        self._listener: StreamListener | None = None

    async def start(self, dispatch: Dispatch) -> None:
        """Bind the port; every connection is served by ``serve``."""
        a, events = self.attributes, EventFactory(TriggerInfo(self.kind, self.name))

        async def serve(conn: Connection) -> None:
            while True:
                try:
                    line = await conn.read_line()
                except MessageTooLarge:
                    await conn.send(b"ERROR 413 line longer than maxLineBytes\n")
                    continue
                if line is None:
                    return
                try:
                    response = await dispatch(events(line))
                except DispatchError as exc:
                    await conn.send(b"ERROR %d %s\n" % (exc.status_code, str(exc).encode()))
                    continue
                body = response.body
                if response.status_code >= 400:
                    body = b"ERROR %d %s" % (response.status_code, body)
                await conn.send(body.replace(b"\n", b" ") + b"\n")

        self._listener = StreamListener(
            serve, a.host, a.port, max_connections=a.max_connections,
            idle_timeout=float(a.idle_timeout), max_message_bytes=a.max_line_bytes,
            reuse_port=self.spec.processes > 1, metrics=self.spec.metrics,
            trigger=self.name, logger=self.spec.logger,
        )  # fmt: skip
        self.port = await self._listener.start()
        self.spec.logger.info("lines trigger %s listening on %s", self.name, self._listener.address)

    async def stop(self, timeout: float) -> None:
        """Stop accepting; idle connections close now, busy ones get ``timeout`` seconds."""
        if self._listener is not None:
            await self._listener.stop(timeout)
