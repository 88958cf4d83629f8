"""The HTTP listener every network trigger and sink serves through, on aiohttp's public API.

Two forms, both returning an :class:`HttpListener` (the port bound, ``[host]:port``, a
``stop`` in aiohttp's order):

- :func:`serve_handler`: one coroutine per request on aiohttp's low-level ``web.Server``
  (no router, no middleware: the http trigger's and openinference REST's hot path);
- :func:`serve_app`: a ``web.Application`` (router, websockets, middlewares), as the
  sinks' servers and the health server.

Both bind with ``web.ServerRunner``/``web.AppRunner`` and ``web.TCPSite`` (``port: 0``
takes a free port, read back from ``runner.addresses``; ``reuse_port`` for serving
processes sharing one port), close idle connections after the idle timeout of
:mod:`.limits`, and turn a port that cannot be bound into a :class:`UserError` (a clean exit,
no traceback): ``"{name} cannot listen on HOST:PORT: REASON; {hint}"``.

The low-level form also owns what happens before the handler sees a request:

- a request aiohttp cannot parse gets one answer, worded here, in the form the owner picks
  (:data:`ErrorAnswer`: :func:`text_answer` or :func:`json_answer`), logged at debug level
  (on a public port they are noise); a request line or header over ``max_line_size`` /
  ``max_field_size`` (or too many headers) is 431; every such answer closes the connection;
- the answer's status line says ``HTTP/1.1`` whatever the request line said (aiohttp echoes
  the request's version); a request that named another version than 1.0/1.1 reaches the
  handler as an :class:`OtherVersionRequest`, which it may refuse (505);
- :func:`read_body` reads a body up to a limit, within a :class:`ByteBudget`, with the read
  timeout, answering ``Expect: 100-continue``; what goes wrong is a :class:`BodyError`
  carrying the status and the one wording of each case (413, 400, 408, 417, 503).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import HttpVersion10, HttpVersion11, web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.web_protocol import ERROR, RequestPayloadError

from dh_serverless.core.compat import TIMEOUT_ERRORS, timeout
from dh_serverless.core.errors import ListenError
from dh_serverless.core.responses import cap_text
from dh_serverless.core.serving.lifecycle import Lifecycle
from dh_serverless.core.serving.limits import (
    ByteBudget,
    ListenerTimeouts,
    format_address,
    listener_timeouts,
)

if TYPE_CHECKING:
    from dh_serverless.hookspecs import TriggerSpec

__all__ = (
    "BodyError",
    "ErrorAnswer",
    "HttpListener",
    "OtherVersionRequest",
    "RequestHandler",
    "json_answer",
    "read_body",
    "serve_app",
    "serve_handler",
    "text_answer",
)

#: A request's coroutine in the low-level form.
RequestHandler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
#: Makes the answer of an error the listener words: ``(status, text) -> response``.
ErrorAnswer = Callable[[int, str], web.Response]

_HTTP1 = frozenset((HttpVersion10, HttpVersion11))
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_JSON = {"Content-Type": "application/json"}


def text_answer(status: int, text: str) -> web.Response:
    """An error answer as one line of plain text (Nuclio's http trigger)."""
    return web.Response(status=status, text=f"{text}\n")


def json_answer(status: int, text: str) -> web.Response:
    """An error answer as ``{"error": text}`` (the inference protocol, most JSON APIs)."""
    return web.Response(status=status, body=json.dumps({"error": text}).encode(), headers=_JSON)


class OtherVersionRequest(web.BaseRequest):
    """A request whose request line named a version other than HTTP/1.0 or HTTP/1.1
    (``HTTP/0.9``, ``HTTP/2.0``). Its ``version`` reads 1.1, so that whatever the handler
    answers goes out with an ``HTTP/1.1`` status line; refuse it with 505 if need be."""


# ---------------------------------------------------------------------------
# Request bodies
# ---------------------------------------------------------------------------


class BodyError(Exception):
    """A request body that cannot be handed on: answer ``status`` with ``message``;
    ``close`` says whether the connection must close after the answer (the rest of the
    body was not read)."""

    def __init__(self, status: int, message: str, *, close: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.close = close


def _too_large(limit: int, setting: str) -> BodyError:
    return BodyError(
        413,
        f"request body is larger than {setting.rpartition('.')[2]} ({limit} bytes); "
        f"raise {setting} to accept it",
    )


def _over_budget(budget: ByteBudget) -> BodyError:
    return BodyError(
        503,
        f"the server is receiving {budget.limit} bytes of requests already "
        f"({budget.setting}); retry later",
    )


async def read_body(
    request: web.BaseRequest,
    limit: int,
    *,
    budget: ByteBudget | None = None,
    read_timeout: float | None = None,
    setting: str = "attributes.maxRequestBodySize",
) -> bytes:
    """The whole body of ``request``, at most ``limit`` bytes.

    - a body declared or found larger than ``limit``: :class:`BodyError` 413, naming
      ``setting`` (the attribute that raises the limit);
    - ``Expect: 100-continue`` is answered before reading a body not received yet (417 for
      another expectation; nothing is read when the declared length is over the limit);
    - with ``budget``, the body's bytes are taken from it as they are known (a declared
      length at once): 503 when they do not fit. Once the request is answered, the caller
      gives back ``len(body)``; on an error nothing stays taken;
    - no byte for ``read_timeout`` seconds (default: the listener's read timeout) while
      more is awaited: 408, and the connection is closed at once (no answer can reach a
      client that stalls its body);
    - a malformed body (bad chunked encoding, the client went away): 400.

    A body already received in full (most small requests), or read in one piece, is
    returned as it is, without a copy; a body read in several pieces is joined once.
    """
    length = request.content_length
    if length is not None and length > limit:
        if request.headers.get("Expect") is not None:
            request.content.feed_eof()  # the client waits for 100: nothing to drain
        raise _too_large(limit, setting)
    payload = request.content
    if payload.is_eof():  # everything arrived with the head
        body: bytes = await payload.readany()  # every chunk buffered, joined
        if len(body) > limit:
            raise _too_large(limit, setting)
        if budget is not None and body and not budget.try_take(len(body)):
            raise _over_budget(budget)
        return body
    expect = request.headers.get("Expect")
    if expect is not None:
        if expect.lower() != "100-continue":
            payload.feed_eof()  # the client waits for our go-ahead: nothing to drain
            raise BodyError(417, "unsupported Expect")
        if request.version >= (1, 1):
            await request.writer.write(_CONTINUE)
            request.writer.output_size = 0  # the answer's head is still to come
    wait = read_timeout if read_timeout is not None else listener_timeouts().read
    held = 0
    try:
        if length is not None and budget is not None:
            if not budget.try_take(length):
                raise _over_budget(budget)
            held = length
        parts: list[bytes] = []
        size = 0
        while True:
            chunk = await _next_chunk(request, wait)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise _too_large(limit, setting)
            if budget is not None and size > held:
                if not budget.try_take(size - held):
                    raise _over_budget(budget)
                held = size
            parts.append(chunk)
        if budget is not None and held > size:
            budget.give_back(held - size)
        held = 0
        return parts[0] if len(parts) == 1 else b"".join(parts)
    except RequestPayloadError as exc:
        raise BodyError(400, cap_text(f"malformed body: {exc}")) from None
    finally:
        if held and budget is not None:
            budget.give_back(held)


async def _next_chunk(request: web.BaseRequest, wait: float) -> bytes:
    payload = request.content
    if payload.is_eof():
        return await payload.readany()
    try:
        async with timeout(wait):
            return await payload.readany()
    except TIMEOUT_ERRORS:
        # The client stalls: close now (an answer would wait behind the unread body).
        request.protocol.force_close()
        raise BodyError(
            408, f"no byte of the request body for {wait:g}s (DH_SERVERLESS_READ_TIMEOUT)"
        ) from None


# ---------------------------------------------------------------------------
# The low-level server
# ---------------------------------------------------------------------------


class _Connection(web.RequestHandler):
    """aiohttp's connection handler whose own answers (a request it cannot parse, a
    handler that raised) are worded here, logged at debug level, and close the connection."""

    __slots__ = ("answer",)

    def __init__(self, manager: web.Server, *, answer: ErrorAnswer, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self.answer = answer

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            # Part of the answer is on the wire: the connection can only be dropped.
            raise ConnectionError("response already started; cannot send an error answer")
        if isinstance(exc, LineTooLong) or (
            isinstance(exc, BadHttpMessage) and "too many headers" in str(exc).lower()
        ):
            status, text = 431, f"Too big request header (limit: {self.max_field_size} bytes)"
            self.logger.debug("431 for a request from %s: %s", request.remote, exc)
        elif isinstance(exc, ConnectionError):
            self.logger.debug("client %s went away: %s", request.remote, exc)
            text = "Connection lost"
        elif status == 500:
            self.logger.error("error handling a request from %s", request.remote, exc_info=exc)
            text = "500 Internal Server Error"
        else:
            # aiohttp's parser message (400), or 504 for a stray asyncio.TimeoutError.
            detail = cap_text(str(getattr(exc, "message", None) or message or ""), 256)
            self.logger.debug("%d for a request from %s: %s", status, request.remote, detail)
            text = f"Error when parsing request: {detail}" if status == 400 else str(status)
        response = self.answer(status, text)
        response.force_close()
        return response


class _Server(web.Server):
    """``web.Server`` whose connections are :class:`_Connection` and whose requests
    always answer as HTTP/1.1 (see :class:`OtherVersionRequest`)."""

    def __init__(self, handler: RequestHandler, *, answer: ErrorAnswer, **options: Any) -> None:
        loop = asyncio.get_running_loop()

        def make_request(
            message: Any, payload: Any, protocol: Any, writer: Any, task: Any
        ) -> web.BaseRequest:
            if message.version in _HTTP1 and message is not ERROR:
                return web.BaseRequest(message, payload, protocol, writer, task, loop)
            cls = web.BaseRequest if message is ERROR else OtherVersionRequest
            message = message._replace(version=HttpVersion11)
            return cls(message, payload, protocol, writer, task, loop)

        super().__init__(handler, request_factory=make_request, loop=loop, **options)
        self.connection_options = {"loop": loop, "answer": answer, **options}

    def __call__(self) -> web.RequestHandler:
        return _Connection(self, **self.connection_options)


# ---------------------------------------------------------------------------
# The listener
# ---------------------------------------------------------------------------


class HttpListener:
    """A bound HTTP listener: its port, its address, and how it stops.

    Made by :func:`serve_handler` or :func:`serve_app`, already listening.
    """

    def __init__(self, runner: web.BaseRunner, name: str, host: str, port: int) -> None:
        self.runner = runner
        self.name = name
        self.host = host
        #: the port bound: the configured one, or the one the OS picked for ``port: 0``
        self.port = port
        self.stopped = False

    @property
    def address(self) -> str:
        """``host:port`` (``[::1]:8080`` for IPv6), the port as bound."""
        return format_address(self.host, self.port)

    @property
    def addresses(self) -> list[Any]:
        """Every socket address listened on (``runner.addresses``)."""
        return list(self.runner.addresses)

    async def stop(self, timeout: float = 1.0, lifecycle: Lifecycle | None = None) -> None:
        """Stop in aiohttp's order, with the drain in it:

        1. stop listening (new connections are refused);
        2. let requests already read off the sockets start, then close idle keep-alive
           connections;
        3. with ``lifecycle``: :meth:`Lifecycle.drain` (requests in flight finish within
           ``timeout`` seconds, or are cancelled);
        4. answers being written get what is left of ``timeout`` (at least 0.1 s), then
           every connection closes; the runner is cleaned up (an application's
           ``on_shutdown``/``on_cleanup`` run).

        A second call does nothing.
        """
        if self.stopped:
            return
        self.stopped = True
        runner = self.runner
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout, 0.0)
        for site in list(runner.sites):
            await site.stop()
        server = runner.server
        if server is not None:
            await asyncio.sleep(0)  # requests already read off the sockets start
            server.pre_shutdown()  # idle keep-alive connections close now
            if lifecycle is not None:
                await lifecycle.drain(max(deadline - loop.time(), 0.0))
            await server.shutdown(max(deadline - loop.time(), 0.1))
        await runner.cleanup()

    def __repr__(self) -> str:
        return f"<HttpListener {self.name} on {self.address}>"


async def _bind(
    runner: web.BaseRunner,
    host: str,
    port: int,
    *,
    name: str,
    hint: str,
    backlog: int,
    reuse_port: bool,
    path: str | None = None,
) -> HttpListener:
    await runner.setup()
    site: web.BaseSite
    if path is not None:
        site, where = web.UnixSite(runner, path), path
    elif reuse_port and port == 0:
        await runner.cleanup()
        raise ListenError(f"port 0 cannot be shared by serving processes: {hint}")
    else:
        site = web.TCPSite(runner, host, port, backlog=backlog, reuse_port=reuse_port or None)
        where = format_address(host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        # asyncio's message repeats the address: the system's words for the errno are enough
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        error = ListenError(f"{name} cannot listen on {where}: {reason}; {hint}")
        error.errno = exc.errno
        raise error from exc
    addresses = runner.addresses
    bound = int(addresses[0][1]) if addresses and path is None else port
    return HttpListener(runner, name, host, bound)


async def serve_handler(
    handler: RequestHandler,
    host: str,
    port: int,
    *,
    hint: str,
    trigger: TriggerSpec | None = None,
    name: str | None = None,
    answer: ErrorAnswer = text_answer,
    logger: logging.Logger | None = None,
    access_log: logging.Logger | None = None,
    debug: bool | None = None,
    reuse_port: bool | None = None,
    backlog: int = 1024,
    timeouts: ListenerTimeouts | None = None,
    **options: Any,
) -> HttpListener:
    """Serve ``handler`` (one coroutine per request) on ``host:port``; return once bound.

    :param hint: what to do about a port that cannot be bound (ends its error).
    :param trigger: the spec of the trigger served: the defaults of ``name`` (``"http
        trigger 'web'"``), ``logger``, ``debug`` and ``reuse_port`` (``spec.processes > 1``)
        come from it.
    :param name: how errors name the listener.
    :param answer: the form of the answers worded by the listener (:func:`text_answer`,
        :func:`json_answer`).
    :param reuse_port: bind with ``SO_REUSEPORT`` (serving processes sharing the port;
        port 0 is refused then).
    :param options: more ``web.RequestHandler`` options (``max_line_size``,
        ``max_field_size``, ``max_headers``, ``auto_decompress``, ``lingering_time``).
    :raises ListenError: the port cannot be bound (in use, not permitted, no such address):
        a :class:`UserError` (a clean exit) and an ``OSError``.
    """
    if trigger is not None:
        name = name or f"{trigger.kind} trigger {trigger.name!r}"
        logger = logger or trigger.logger
        debug = trigger.debug if debug is None else debug
        reuse_port = trigger.processes > 1 if reuse_port is None else reuse_port
    t = timeouts or listener_timeouts()
    server = _Server(
        handler,
        answer=answer,
        keepalive_timeout=t.idle,
        logger=logger or logging.getLogger("dh_serverless.serving"),
        access_log=access_log,
        debug=bool(debug),
        **options,
    )
    runner = web.ServerRunner(server, handle_signals=False)
    return await _bind(
        runner, host, port, name=name or "HTTP listener", hint=hint, backlog=backlog,
        reuse_port=bool(reuse_port),
    )  # fmt: skip


async def serve_app(
    app: web.Application,
    host: str,
    port: int,
    *,
    name: str,
    hint: str,
    reuse_port: bool = False,
    backlog: int = 128,
    timeouts: ListenerTimeouts | None = None,
    path: str | None = None,
) -> HttpListener:
    """Serve ``app`` on ``host:port`` with every listener's timeouts; return once bound.

    :param name: how errors name the listener (``"mjpeg sink"``).
    :param hint: what to do about a port that cannot be bound (ends its error).
    :param path: listen on this Unix socket instead of ``host:port``.
    :raises ListenError: the port cannot be bound (a :class:`UserError` and an ``OSError``).
    """
    t = timeouts or listener_timeouts()
    runner = web.AppRunner(app, access_log=None, handle_signals=False, keepalive_timeout=t.idle)
    return await _bind(
        runner, host, port, name=name, hint=hint, backlog=backlog, reuse_port=reuse_port,
        path=path,
    )  # fmt: skip
