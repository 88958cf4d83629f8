"""The REST side: one plain aiohttp request handler, no router, no middlewares.

Paths are matched by hand (a handful of fixed prefixes; aiohttp's router and middleware
chain cost more than the matching). Static answers (health, metadata) are bytes made at
start-up; every error is ``{"error": "..."}`` with the protocol's status code.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

import orjson
from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError
from multidict import CIMultiDict

from dh_serverless.core.api import ByteBudget, TimedRequestHandler
from dh_serverless.hookspecs import DispatchError
from dh_serverless.triggers.openinference._metrics import ProtocolMetrics, dispatch_outcome
from dh_serverless.triggers.openinference._model import HandlerOutputError, Model
from dh_serverless.triggers.openinference._request import RequestError, cap
from dh_serverless.triggers.openinference._rest_codec import (
    encode_response,
    parse_header_length,
    parse_request,
)
from dh_serverless.triggers.openinference._serving import HandlerError, Inference

__all__ = ("RestHandler", "RestServer", "make_handler")

_JSON = {"Content-Type": "application/json"}
#: copied per answer (aiohttp adds to the headers it is given): cheaper than from a dict
_JSON_CI = CIMultiDict(_JSON)
_BINARY_CI = CIMultiDict({"Content-Type": "application/octet-stream"})
_LIVE = orjson.dumps({"live": True})
_READY = orjson.dumps({"ready": True})
_NOT_READY = orjson.dumps({"ready": False})
#: Triton extension routes tritonclient may call; answered 501 (not supported)
_UNSUPPORTED = ("config", "stats", "trace", "load", "unload")
_UNSUPPORTED_PREFIXES = (
    "/v2/repository",
    "/v2/systemsharedmemory",
    "/v2/cudasharedmemory",
    "/v2/trace",
    "/v2/logging",
    "/v2/models/stats",
)
_STATUS_OUTCOME = {400: "invalid", 404: "not_found"}
_GET_ONLY = frozenset(("/v2/health/live", "/v2/health/ready", "/v2", "/v2/"))

RestHandler = Callable[[web.BaseRequest], Coroutine[Any, Any, web.StreamResponse]]


def _error(status: int, message: str) -> web.Response:
    return web.Response(body=orjson.dumps({"error": message}), status=status, headers=_JSON)


class _RequestHandler(TimedRequestHandler):
    """aiohttp's connection handler, whose own answers (a request it cannot parse) are
    ``{"error": ...}`` like every other answer, and logged at debug level only."""

    __slots__ = ()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; cannot send an error answer")
        detail = getattr(exc, "message", None) or message or (str(exc) if exc else "")
        if status == 500:
            self.logger.error("openinference: error handling a request", exc_info=exc)
        else:
            self.logger.debug("openinference: %d for a request: %s", status, detail)
        text = f"bad request: {detail}" if status == 400 else f"{status}: {detail}"
        response = _error(status, text.strip())
        response.force_close()
        return response


class RestServer(web.Server):
    """``aiohttp.web.Server`` whose connections use the handler above."""

    def __call__(self) -> web.RequestHandler:
        kwargs: dict[str, Any] = self._kwargs
        return _RequestHandler(self, loop=self._loop, **kwargs)


def _dispatch_status(error: DispatchError) -> int:
    status = error.status_code if isinstance(error.status_code, int) else 500
    return status if 400 <= status <= 599 else 500


class _OverBudget(Exception):
    """The bytes being received at once would exceed ``maxBytesInFlight``."""


async def _read_body(
    request: web.BaseRequest, limit: int, budget: ByteBudget, held: list[int]
) -> bytes | memoryview | None:
    """The whole body, or ``None`` as soon as it is larger than ``limit``.

    Its size is taken from ``budget`` (added to ``held[0]``) before it is read:
    :class:`_OverBudget` when it does not fit. A body of known length is read straight
    into one buffer of its size (no second copy).
    """
    length = request.content_length
    if length is not None and length > limit:
        return None
    payload = request.content
    if length is not None:
        if not budget.try_take(length):
            raise _OverBudget
        held[0] += length
        buffer = bytearray(length)
        pos = 0
        while pos < length:
            chunk = await payload.readany()
            if not chunk:
                break
            end = pos + len(chunk)
            buffer[pos:end] = chunk
            pos = end
        return memoryview(buffer)[:pos].toreadonly()
    body: bytes = await payload.readany()
    if payload.at_eof() or not body:
        return body if len(body) <= limit else None
    parts = [body]
    size = len(body)
    while size <= limit:
        if not budget.try_take(len(parts[-1])):
            raise _OverBudget
        held[0] += len(parts[-1])
        chunk = await payload.readany()
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)
        size += len(chunk)
    return None


def make_handler(
    model: Model,
    inference: Inference,
    metrics: ProtocolMetrics,
    *,
    limit: int,
    is_ready: Callable[[], bool],
    logger: logging.Logger,
) -> RestHandler:
    """Build the per-request coroutine, everything it needs bound as locals."""
    outcome = metrics.outcome
    ok = outcome["ok"]
    seconds = metrics.seconds
    bytes_in = metrics.bytes_in
    bytes_out = metrics.bytes_out
    clock = time.perf_counter
    too_large = (
        f"request body is larger than maxRequestBodySize ({limit} bytes); "
        "raise attributes.maxRequestBodySize to accept it"
    )
    budget = inference.budget
    over_budget = (
        f"the server is receiving {budget.limit} bytes of requests already "
        "(attributes.maxBytesInFlight); retry later"
    )

    async def infer(request: web.BaseRequest) -> web.StreamResponse:
        start = clock()
        header = request.headers.get("Inference-Header-Content-Length")
        header_length = None
        held = [0]
        try:
            if header is not None:
                header_length = parse_header_length(header)
            try:
                body = await _read_body(request, limit, budget, held)
            except RequestPayloadError as exc:
                raise RequestError(400, f"malformed body: {exc}") from None
            except _OverBudget:
                outcome["busy"].inc()
                response = _error(503, over_budget)
                response.force_close()
                return response
            if body is None:
                outcome["invalid"].inc()
                response = _error(413, too_large)
                response.force_close()
                return response
            bytes_in.value += len(body)
            parsed = parse_request(body, header_length)
            result, outputs, status = await inference.run(parsed, "rest", len(body))
            binary = parsed.binary_output
            if parsed.outputs is None:
                chosen = [(t, binary) for t in outputs]
            else:
                chosen = [
                    (tensor, binary if asked.binary is None else asked.binary)
                    for tensor, asked in zip(outputs, parsed.outputs, strict=True)
                ]
            payload, json_length = encode_response(
                model.name, model.version, result.id or parsed.id, result.parameters, chosen
            )
        except RequestError as exc:
            outcome[_STATUS_OUTCOME.get(exc.status, "invalid")].inc()
            return _error(exc.status, exc.message)
        except HandlerError as exc:
            outcome["error" if exc.status >= 500 else "invalid"].inc()
            return _error(exc.status, exc.message)
        except HandlerOutputError as exc:
            outcome["error"].inc()
            return _error(500, str(exc))
        except DispatchError as exc:
            outcome[dispatch_outcome(exc)].inc()
            return _error(_dispatch_status(exc), str(exc) or type(exc).__name__)
        except Exception as exc:
            outcome["error"].inc()
            logger.error("openinference: cannot answer %s: %s", request.path, exc, exc_info=exc)
            return _error(500, cap(f"internal error: {type(exc).__name__}: {exc}"))
        finally:
            if held[0]:
                budget.give_back(held[0])
        ok.value += 1
        bytes_out.value += len(payload)
        if json_length is None:
            response = web.Response(body=payload, status=status, headers=_JSON_CI.copy())
        else:
            headers = _BINARY_CI.copy()
            headers["Inference-Header-Content-Length"] = str(json_length)
            response = web.Response(body=payload, status=status, headers=headers)
        seconds.observe(clock() - start)
        return response

    def model_route(request: web.BaseRequest, path: str) -> web.Response | None:
        parts = path[11:].split("/")
        name, rest = parts[0], parts[1:]
        version = None
        if len(rest) >= 2 and rest[0] == "versions":
            version, rest = rest[1], rest[2:]
        action = rest[0] if rest else ""
        if len(rest) > 1 or (action and action not in ("infer", "ready", *_UNSUPPORTED)):
            return _error(404, f"no such route: {request.method} {path}")
        if action in _UNSUPPORTED:
            return _error(501, f"{path}: the {action!r} extension is not supported")
        wanted = "POST" if action == "infer" else "GET"
        if request.method != wanted and not (wanted == "GET" and request.method == "HEAD"):
            response = _error(405, f"{path} takes {wanted}, not {request.method}")
            response.headers["Allow"] = wanted
            return response
        if not model.serves(name, version):
            if action == "infer":
                outcome["not_found"].inc()
            return _error(404, model.not_found(name, version).message)
        if action == "ready":
            if is_ready():
                return web.Response(body=model.ready_json, headers=_JSON)
            return _error(503, f"model {name!r} is not ready")
        if action == "":
            return web.Response(body=model.metadata_json, headers=_JSON)
        return None  # infer

    # tritonclient's own paths, matched on the raw path: no decoding, no routing.
    name, version = quote(model.name), quote(model.version)
    direct = frozenset((f"/v2/models/{name}/infer", f"/v2/models/{name}/versions/{version}/infer"))

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        if request.raw_path in direct and request.method == "POST":
            return await infer(request)
        path = request.path
        if path.startswith("/v2/models/") and not path.startswith("/v2/models/stats"):
            answer = model_route(request, path)
            if answer is not None:
                return answer
            return await infer(request)
        if request.method not in ("GET", "HEAD") and path in _GET_ONLY:
            return _error(405, f"{path} takes GET, not {request.method}")
        if path == "/v2/health/live":
            return web.Response(body=_LIVE, headers=_JSON)
        if path == "/v2/health/ready":
            if is_ready():
                return web.Response(body=_READY, headers=_JSON)
            return web.Response(body=_NOT_READY, status=503, headers=_JSON)
        if path in ("/v2", "/v2/"):
            return web.Response(body=model.server_metadata_json, headers=_JSON)
        if path.startswith(_UNSUPPORTED_PREFIXES):
            return _error(501, f"{path}: this Triton extension is not supported")
        return _error(404, f"no such route: {request.method} {path}")

    return handle
