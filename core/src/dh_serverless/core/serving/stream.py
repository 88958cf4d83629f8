"""A TCP stream listener: one coroutine per connection, a registry, limits, a graceful close.

A trigger writes only what one connection does::

    async def serve(conn: Connection) -> None:
        while (line := await conn.read_line()) is not None:
            response = await dispatch(factory.new(line))
            await conn.send(response.body + b"\\n")

    listener = StreamListener(serve, host, port, max_connections=100, idle_timeout=30.0)
    port = await listener.start()  # the bound port (for port 0)
    ...
    await listener.stop(grace=5.0)

What the listener does for it:

- **registry**: every open connection is known (:attr:`StreamListener.connections`);
  beyond ``max_connections`` a new one is closed at once (``reason="max_connections"``);
- **idle timeout**: a read that gets no complete line (message) within ``idle_timeout``
  seconds, or a send the peer does not take within it, closes the connection
  (``reason="idle_timeout"``): a silent or slow peer holds nothing for long;
- **message size**: a line longer than ``max_message_bytes`` is skipped, without being
  held in memory, and :meth:`Connection.read_line` raises :class:`MessageTooLarge`
  (``reason="too_large"``); the connection stays usable;
- **graceful close**: :meth:`StreamListener.stop` stops accepting, ends the connections
  waiting for a message at once (their read returns ``None``), lets the ones whose
  message is being handled finish for ``grace`` seconds, then cancels them. A connection
  that shutdown cancels ends quietly: Python 3.11's ``asyncio.start_server`` logs a
  ``CancelledError`` traceback for a connection task that ends cancelled; the
  listener's never do.

Each drop is counted in ``dh_listener_dropped_total{trigger,transport="tcp",reason}`` and
open connections in ``dh_listener_active{trigger,transport="tcp"}`` when ``metrics`` is
given. A handler that raises is logged (one line per connection) and its connection
closed; the listener and the other connections go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from dh_serverless.core.compat import TIMEOUT_ERRORS, timeout
from dh_serverless.core.serving.addresses import format_address
from dh_serverless.core.serving.sockets import SocketListener
from dh_serverless.hookspecs.metrics import Metrics

__all__ = ("Connection", "MessageTooLarge", "StreamListener")

#: what a peer may send in one line (message) unless told otherwise
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024


class MessageTooLarge(ValueError):
    """A line (message) longer than the listener's ``max_message_bytes``; it was skipped."""


class Connection:
    """One accepted TCP connection, as a handler sees it.

    Reads return ``None`` at the end of the connection: the peer closed it, it stayed idle
    for ``idle_timeout`` seconds, or the listener is stopping.
    """

    __slots__ = ("_listener", "_reader", "_waiting", "_writer", "closing", "peer")

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, listener: StreamListener
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._listener = listener
        self._waiting = False  # in a read, between messages: stop() may end it at once
        #: ``True`` once the connection is being closed (a read returns ``None``)
        self.closing = False
        #: the peer's address as the socket gives it (``(host, port)`` for IPv4)
        self.peer: Any = writer.get_extra_info("peername")

    async def read_line(self) -> bytes | None:
        """The next line without its ``\\n`` (or ``\\r\\n``); ``None`` at the end.

        A last line the peer ends without a newline is returned too.

        :raises MessageTooLarge: the line was longer than ``max_message_bytes``; it was
            read and discarded, and the next call reads the line after it.
        """
        data = await self._read(self._read_line)
        if data is None or data is _TOO_LARGE:
            if data is _TOO_LARGE:
                self._listener.counts.drop("too_large")
                raise MessageTooLarge(
                    f"a line longer than {self._listener.max_message_bytes} bytes was skipped"
                )
            return None
        assert isinstance(data, bytes)
        return data

    async def read_exactly(self, size: int) -> bytes | None:
        """``size`` bytes (a length-prefixed message's body); ``None`` at the end.

        :raises MessageTooLarge: ``size`` is over ``max_message_bytes`` (nothing is read:
            the peer's framing cannot be trusted, so close the connection).
        """
        if size > self._listener.max_message_bytes:
            self._listener.counts.drop("too_large")
            raise MessageTooLarge(
                f"a message of {size} bytes is over the limit of "
                f"{self._listener.max_message_bytes} bytes"
            )

        async def exactly() -> bytes | None:
            try:
                return await self._reader.readexactly(size)
            except asyncio.IncompleteReadError:
                return None

        data = await self._read(exactly)
        return data if isinstance(data, bytes) else None

    async def read_chunk(self) -> bytes | None:
        """Whatever arrived next (at most ``max_message_bytes``); ``None`` at the end."""
        data = await self._read(lambda: self._reader.read(self._listener.max_message_bytes))
        return data if isinstance(data, bytes) and data else None

    async def send(self, data: bytes) -> None:
        """Write ``data`` and wait until the peer takes it (at most ``idle_timeout``).

        :raises ConnectionError: the peer is gone or did not read in time (the connection
            is then closed).
        """
        writer = self._writer
        if writer.is_closing():
            raise ConnectionResetError("the connection is closed")
        writer.write(data)
        try:
            async with timeout(self._listener.idle_timeout):
                await writer.drain()
        except TIMEOUT_ERRORS:
            self._listener.counts.drop("idle_timeout")
            self.close()
            raise ConnectionResetError("the peer did not read within the idle timeout") from None

    def close(self) -> None:
        """Close the connection (buffered data is still sent); reads return ``None``."""
        self.closing = True
        self._writer.close()

    async def _read(self, read: Callable[[], Awaitable[Any]]) -> Any:
        if self.closing:
            return None
        self._waiting = True
        try:
            async with timeout(self._listener.idle_timeout):
                return await read()
        except TIMEOUT_ERRORS:
            if not self.closing:
                self._listener.counts.drop("idle_timeout")
                self.close()
            return None
        except (ConnectionError, asyncio.IncompleteReadError):
            return None
        finally:
            self._waiting = False

    async def _read_line(self) -> bytes | object | None:
        reader = self._reader
        skipped = False
        while True:
            try:
                line = await reader.readuntil(b"\n")
            except asyncio.LimitOverrunError as exc:
                # Over the limit: drop what is buffered of this line and keep reading to its end.
                await reader.readexactly(exc.consumed)
                skipped = True
                continue
            except asyncio.IncompleteReadError as exc:
                # The end: a last line without a newline is a line, unless we are closing.
                if skipped or self.closing or not exc.partial:
                    return _TOO_LARGE if skipped and not self.closing else None
                line = exc.partial
            else:
                if skipped:
                    return _TOO_LARGE
                line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
            return line


_TOO_LARGE = object()


class StreamListener(SocketListener):
    """A TCP listener that runs ``handler(connection)`` for every connection it accepts.

    :param handler: ``async handler(conn)``, returning when the connection is done with.
    :param host: the address to bind.
    :param port: the port, ``0`` for any free one (:attr:`port` tells which).
    :param max_connections: connections open at once; beyond, a new one is closed.
    :param idle_timeout: seconds a read may wait for a whole message, or a send for the
        peer to read, before the connection is closed.
    :param max_message_bytes: the longest line (message) a peer may send.
    :param reuse_port: set ``SO_REUSEPORT`` (several serving processes on one port).
    :param backlog: connections the kernel queues before they are accepted.
    :param metrics: the runtime's registry, for drop counts and open connections.
    :param trigger: the trigger's name, labelling its metrics and log lines.
    :param logger: where handler errors are logged.
    """

    transport = "tcp"
    reasons = ("max_connections", "idle_timeout", "too_large")

    def __init__(
        self,
        handler: Callable[[Connection], Awaitable[None]],
        host: str,
        port: int,
        *,
        max_connections: int = 1024,
        idle_timeout: float = 30.0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        reuse_port: bool = False,
        backlog: int = 128,
        metrics: Metrics | None = None,
        trigger: str = "",
        logger: logging.Logger | None = None,
    ) -> None:
        self._open: set[Connection] = set()
        super().__init__(
            host, port, reuse_port=reuse_port, metrics=metrics, trigger=trigger, logger=logger,
            active=lambda: len(self._open),
        )  # fmt: skip
        self._handler = handler
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.max_message_bytes = max_message_bytes
        self._backlog = backlog
        self._server: asyncio.Server | None = None
        self._closing = False  # stop() began: a cancelled connection task ends quietly

    @property
    def connections(self) -> frozenset[Connection]:
        """The connections open now."""
        return frozenset(self._open)

    async def start(self) -> int:
        """Bind and start accepting; return the port bound.

        :raises OSError: the address cannot be bound (``cannot listen on HOST:PORT (TCP): ...``).
        :raises RuntimeError: started twice.
        """
        self._starting()
        self._closing = False
        try:
            self._server = await asyncio.start_server(
                self._serve, self.host, self.requested_port,
                limit=self.max_message_bytes, backlog=self._backlog,
                reuse_port=self._reuse_port or None,
            )  # fmt: skip
        except OSError as exc:
            raise self._bind_failed(exc) from exc
        sockets = self._server.sockets
        self.port = int(sockets[0].getsockname()[1]) if sockets else self.requested_port
        return self.port

    async def stop(self, grace: float) -> None:
        """Stop accepting; end idle connections now, give busy ones ``grace`` seconds, then
        cancel them. Safe to call more than once, and before :meth:`start`."""
        if not self._life.begin_stop():
            return
        self._closing = True
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for conn in list(self._open):
            conn.closing = True  # a busy connection's next read returns None
            if conn._waiting:
                conn.close()  # an idle one ends now: its read sees the end of the stream
        await self._life.drain(grace)
        if server is not None:
            with contextlib.suppress(*TIMEOUT_ERRORS):
                async with timeout(1.0):
                    await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._life.running or len(self._open) >= self.max_connections:
            if self._life.running:
                self.counts.drop("max_connections")
            writer.transport.abort()
            return
        conn = Connection(reader, writer, self)
        task = asyncio.current_task()
        assert task is not None
        self._open.add(conn)
        self._life.enter(task)
        try:
            await self._handler(conn)
        except asyncio.CancelledError:
            if not self._closing:
                raise
            # Cancelled by stop() after its grace: end quietly. (Letting the task end
            # cancelled makes Python 3.11's start_server log a CancelledError traceback.)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the peer went away
        except Exception:
            self._logger.exception(
                "%s: connection from %s failed",
                self.trigger or "TCP listener",
                self.peer_text(conn),
            )
        finally:
            self._open.discard(conn)
            self._life.leave(task)
            conn.closing = True
            writer.close()

    @staticmethod
    def peer_text(conn: Connection) -> str:
        """The peer of ``conn`` as ``host:port``."""
        peer = conn.peer
        if isinstance(peer, tuple) and len(peer) >= 2:
            return format_address(str(peer[0]), int(peer[1]))
        return str(peer)
