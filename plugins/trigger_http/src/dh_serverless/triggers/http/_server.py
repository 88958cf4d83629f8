"""The aiohttp low-level server the trigger runs, with Nuclio's answers to malformed requests.

aiohttp answers every parse error with 400 and logs it with a traceback. Here a request
line or header over ``readBufferSize`` (or too many headers) gets 431, as Nuclio's
``Too big request header``, and malformed requests are logged at debug level only: on a
public port they are noise, not errors of the function.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import HttpVersion11, web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong

from dh_serverless.core.api import TimedRequestHandler, cap_text, listener_timeouts, runner_options

__all__ = ("TriggerServer", "answer_as_http11")


def answer_as_http11(request: web.BaseRequest) -> None:
    """Make the answer's status line say ``HTTP/1.1`` whatever the request line said.

    aiohttp writes the request's version there (``HTTP/2.0 200``, ``HTTP/0.9 200``); its
    ``version`` is a cached property read from ``_version``, so both are set.
    """
    request._version = HttpVersion11
    request._cache["version"] = HttpVersion11


class _RequestHandler(TimedRequestHandler):
    __slots__ = ()

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
            status, text = 431, f"Too big request header (limit: {self.max_field_size} bytes)\n"
            self.logger.debug("431 for a request from %s: %s", request.remote, exc)
        elif isinstance(exc, ConnectionError):
            self.logger.debug("client %s went away: %s", request.remote, exc)
            text = "Connection lost\n"
        elif status == 500:
            self.logger.error("error handling a request from %s", request.remote, exc_info=exc)
            text = "500 Internal Server Error\n"
        else:
            # aiohttp's parser message (400), or 504 for a stray asyncio.TimeoutError.
            detail = cap_text(str(getattr(exc, "message", None) or message or ""), 256)
            self.logger.debug("%d for a request from %s: %s", status, request.remote, detail)
            text = f"Error when parsing request: {detail}\n" if status == 400 else f"{status}\n"
        # A request aiohttp could not parse carries a made-up version (1.0, or whatever the
        # request line said): the answer's status line says HTTP/1.1 all the same.
        answer_as_http11(request)
        response = web.Response(status=status, text=text)
        response.force_close()
        return response


class TriggerServer(web.Server):
    """``aiohttp.web.Server`` whose connections use :class:`_RequestHandler`."""

    def __call__(self) -> web.RequestHandler:
        kwargs: dict[str, Any] = self._kwargs
        return _RequestHandler(self, loop=self._loop, **kwargs)


def server_kwargs(*, read_buffer_size: int, logger: logging.Logger, debug: bool) -> dict[str, Any]:
    """Options for each connection's ``RequestHandler``, timeouts included (see
    :mod:`dh_serverless.core.listeners`)."""
    timeouts = listener_timeouts()
    return {
        "read_timeout": timeouts.read,
        **runner_options(timeouts),
        # fasthttp's ReadBufferSize bounds the whole header block; aiohttp bounds each
        # line, and the number of lines separately.
        "max_line_size": read_buffer_size,
        "max_field_size": read_buffer_size,
        "max_headers": max(128, read_buffer_size // 64),
        # The handler sees the body as sent (Nuclio does not inflate gzip bodies), and
        # maxRequestBodySize limits the bytes on the wire.
        "auto_decompress": False,
        "logger": logger,
        "access_log": logger.getChild("access") if debug else None,
        "debug": debug,
    }
