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
from multidict import CIMultiDict

from dh_serverless.core.api import BodyError, listener_timeouts, read_body
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

__all__ = ("RestHandler", "make_handler")

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


def _dispatch_status(error: DispatchError) -> int:
    status = error.status_code if isinstance(error.status_code, int) else 500
    return status if 400 <= status <= 599 else 500


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
    budget = inference.budget
    read_timeout = listener_timeouts().read

    async def infer(request: web.BaseRequest) -> web.StreamResponse:
        start = clock()
        header = request.headers.get("Inference-Header-Content-Length")
        header_length = None
        held = 0
        try:
            if header is not None:
                header_length = parse_header_length(header)
            try:
                body = await read_body(request, limit, budget=budget, read_timeout=read_timeout)
            except BodyError as exc:
                outcome["busy" if exc.status == 503 else "invalid"].inc()
                response = _error(exc.status, exc.message)
                if exc.close:
                    response.force_close()
                return response
            held = len(body)
            bytes_in.value += held
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
            if held:
                budget.give_back(held)
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
