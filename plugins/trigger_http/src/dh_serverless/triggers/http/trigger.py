"""The http trigger: an aiohttp server that turns each request into a Nuclio event.

One request goes: ``/__internal/health`` is answered 200 at once; with CORS enabled a
preflight is answered by the trigger; the body is read up to ``maxRequestBodySize``
(413 beyond it); the event is built as Nuclio's http trigger builds it and awaited
through ``dispatch``; the converted :class:`Response` (or the ``status_code`` of a
:class:`DispatchError`) becomes the HTTP answer.

The per-request path runs no hooks, logs nothing above debug level and reuses what it
can (the trigger info, canonical header names, the timestamp of the current second).
"""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, ClassVar

import cattrs
from aiohttp import web
from multidict import CIMultiDict

from dh_serverless.core.api import (
    UTC,
    BodyError,
    EventIds,
    HttpListener,
    Lifecycle,
    OtherVersionRequest,
    cap_text,
    decode_body,
    listener_timeouts,
    read_body,
    serve_handler,
    text_answer,
)
from dh_serverless.hookspecs import (
    Dispatch,
    DispatchError,
    Event,
    TriggerInfo,
    TriggerSpec,
    impl,
)
from dh_serverless.triggers.http._cors import Cors
from dh_serverless.triggers.http.config import HttpAttributes, register_converters

__all__ = ("HttpTrigger", "canonical_header_name", "dh_register_converters")

HEALTH_PATH = "/__internal/health"
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_CANONICAL: dict[str, str] = {}
_CANONICAL_MAX = 1024


@impl
def dh_register_converters(converter: cattrs.Converter) -> None:
    """Register the http trigger's attribute types on the core's converter."""
    register_converters(converter)


def canonical_header_name(name: str) -> str:
    """``x-my-header`` -> ``X-My-Header``, as Go's ``textproto.CanonicalMIMEHeaderKey``.

    A name with a byte that is not an HTTP token character is returned unchanged.
    """
    if not name or not _TOKEN.issuperset(name):
        return str(name)
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def _canonical_cached(name: str) -> str:
    canonical = canonical_header_name(name)
    if len(_CANONICAL) >= _CANONICAL_MAX:
        _CANONICAL.clear()  # bounded: random names cannot grow it past the limit
    _CANONICAL[name] = canonical
    return canonical


_BAD_VERSION = "only HTTP/1.0 and HTTP/1.1 are served here"


def _json_error(status: int, message: str) -> web.Response:
    body = json.dumps({"error": message}).encode()
    return web.Response(body=body, status=status, headers={"Content-Type": "application/json"})


def _dispatch_error(err: DispatchError) -> web.Response:
    status = err.status_code if isinstance(err.status_code, int) else 500
    if not 400 <= status <= 599:
        status = 500
    return _json_error(status, err.message)


def _response_headers(headers: Mapping[str, str], content_type: str) -> CIMultiDict[str]:
    merged: CIMultiDict[str] = CIMultiDict(headers)
    for name, value in merged.items():
        if "\r" in value or "\n" in value or not name or not _TOKEN.issuperset(name):
            raise ValueError(
                cap_text(f"the handler returned an invalid response header {name!r}: {value!r}")
            )
    # The server frames the body itself; Nuclio's content type beats a header of that name.
    merged.popall("Content-Length", None)
    merged.popall("Transfer-Encoding", None)
    merged["Content-Type"] = content_type
    return merged


class HttpTrigger:
    """Nuclio's ``http`` trigger on aiohttp. See the package README for the behaviour."""

    kind: ClassVar[str] = "http"
    attributes_type: ClassVar[type] = HttpAttributes
    #: ``spec.processes``: every process binds ``port`` with ``SO_REUSEPORT``
    serving_processes: ClassVar[str] = "shared_port"

    def __init__(self, spec: TriggerSpec) -> None:
        self.name = spec.name
        self.spec = spec
        attributes = spec.attributes
        self.attributes: HttpAttributes = (
            attributes if isinstance(attributes, HttpAttributes) else HttpAttributes()
        )
        self._logger = spec.logger
        self._life = Lifecycle(f"http trigger {self.name}", spec.logger)
        self._listener: HttpListener | None = None

    @property
    def port(self) -> int:
        """The port listened on: the configured one, or the one picked for ``port: 0``."""
        listener = self._listener
        return listener.port if listener is not None else self.attributes.port

    async def start(self, dispatch: Dispatch) -> None:
        """Listen on ``host:port`` and hand each request to ``dispatch``; return once bound.

        :raises ListenError: the port cannot be bound (an ``OSError`` naming the address).
        """
        self._life.start()
        a = self.attributes
        try:
            self._listener = await serve_handler(
                self._make_handler(dispatch),
                a.host,
                a.port,
                trigger=self.spec,
                hint="choose another port (attributes.port)",
                answer=text_answer,
                access_log=self._logger.getChild("access") if self.spec.debug else None,
                # fasthttp's ReadBufferSize bounds the whole header block; aiohttp bounds
                # each line, and the number of lines separately.
                max_line_size=a.read_buffer_size,
                max_field_size=a.read_buffer_size,
                max_headers=max(128, a.read_buffer_size // 64),
                # The handler sees the body as sent (Nuclio does not inflate gzip bodies),
                # and maxRequestBodySize limits the bytes on the wire.
                auto_decompress=False,
            )
        except BaseException:
            self._life.abort()
            raise
        self._logger.info(
            "http trigger %s listening on %s "
            "(maxRequestBodySize=%d, readBufferSize=%d, cors=%s)",
            self.name, self._listener.address, a.max_request_body_size, a.read_buffer_size,
            "on" if a.cors.enabled else "off",
        )  # fmt: skip

    async def stop(self, timeout: float) -> None:
        """Close the listener and idle connections, let in-flight requests finish for up
        to ``timeout`` seconds, then cancel them and close every connection."""
        listener = self._listener
        if listener is None or not self._life.begin_stop():
            return
        await listener.stop(timeout, self._life)
        self._logger.info("http trigger %s stopped", self.name)

    # ------------------------------------------------------------------
    # The request path
    # ------------------------------------------------------------------

    def _make_handler(
        self, dispatch: Dispatch
    ) -> Callable[[web.BaseRequest], Coroutine[Any, Any, web.StreamResponse]]:
        """Build the per-request coroutine with everything it needs bound as locals."""
        a = self.attributes
        limit = a.max_request_body_size
        cors = Cors(a.cors) if a.cors.enabled else None
        info = TriggerInfo("http", self.name)
        canonical = _CANONICAL
        life = self._life
        enter, leave = life.enter, life.leave
        read_timeout = listener_timeouts().read
        logger = self._logger
        wall_clock = time.time
        utc = UTC
        new_id = EventIds()
        second = 0
        stamp = datetime.datetime(1970, 1, 1)  # naive UTC, as Nuclio
        trigger = self

        async def handle(request: web.BaseRequest) -> web.StreamResponse:
            nonlocal second, stamp
            if request.__class__ is OtherVersionRequest:
                # HTTP/0.9 or 2.0 in an HTTP/1 request line (answered as HTTP/1.1)
                return _finish(_json_error(505, _BAD_VERSION), None, None, closing=True)
            path = request.path
            if path.startswith(HEALTH_PATH):
                return web.Response()
            headers = {}
            for name, value in request.headers.items():
                key = canonical.get(name)
                headers[key if key is not None else _canonical_cached(name)] = value
            origin = None
            if cors is not None:
                origin = headers.get("Origin")
                if request.method == "OPTIONS" and headers.get("Access-Control-Request-Method"):
                    return cors.preflight(headers)

            body: bytes
            if request.content.at_eof():
                body = b""
            else:
                try:
                    body = await read_body(request, limit, read_timeout=read_timeout)
                except BodyError as err:
                    return _finish(_json_error(err.status, err.message), cors, origin, err.close)

            now = wall_clock()
            if now - second >= 1.0:
                second = int(now)
                stamp = datetime.datetime.fromtimestamp(second, utc).replace(tzinfo=None)
            query = request.query_string
            content_type = headers.get("Content-Type", "")
            event = Event(
                decode_body(content_type, body),
                content_type,
                info,
                {k: v for k, v in request.query.items()} if query else None,
                headers,
                new_id(),
                request.method,
                path,
                len(body),
                stamp,
                "",
                -1,
                0,
                "",
                "",
                "",
                False,
                0,
                "",
            )
            task = request.task  # the task aiohttp runs this request on
            enter(task)
            try:
                response = await dispatch(event)
                status = response.status_code
                if not 100 <= status <= 999:
                    raise ValueError(f"invalid status code {status!r}")
                if response.headers:
                    resp = web.Response(
                        body=response.body,
                        status=status,
                        headers=_response_headers(response.headers, response.content_type),
                    )
                else:
                    resp = web.Response(
                        body=response.body,
                        status=status,
                        headers={"Content-Type": response.content_type},
                    )
            except DispatchError as err:
                resp = _dispatch_error(err)
            except Exception as exc:  # a broken response still gets an answer
                logger.error(
                    "http trigger %s: cannot answer %s %s: %s", trigger.name, request.method,
                    path, exc, exc_info=trigger.spec.debug,
                )  # fmt: skip
                resp = _json_error(500, cap_text(f"internal error: {type(exc).__name__}: {exc}"))
            finally:
                leave(task)
            if cors is not None or life.stopping:
                return _finish(resp, cors, origin, life.stopping)
            return resp

        return handle


def _finish(
    response: web.Response, cors: Cors | None, origin: str | None, closing: bool = False
) -> web.Response:
    if cors is not None:
        cors.decorate(response.headers, origin)
    if closing:
        response.force_close()
    return response
