"""The gRPC side: ``inference.GRPCInferenceService`` on the core's gRPC listener.

The listener (:class:`~dh_serverless.core.api.GrpcListener`) adds health and reflection,
binds (``SO_REUSEPORT`` only when serving processes share the port) and stops gracefully.
Its ``grpc.aio`` server runs on the runtime's own event loop, where ``dispatch`` lives: a
call reaches the worker pool with no thread hop. (A synchronous ``grpc.server`` is faster
only when the work runs in its own threads; handing each call to the loop costs exactly
that gain: reference ``openinference.md`` section 7.4.)

The service is registered by hand under its wire name from messages of a private proto
package (``dh_openinference.v2``), so that tritonclient's ``inference`` package can live
in the same process (reference section 3.4). Reflection describes the service as
``inference.*`` from a private descriptor pool, never the process-wide one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import grpc  # type: ignore[import-untyped]
from google.protobuf import descriptor_pb2, descriptor_pool  # type: ignore[import-untyped]
from grpc_health.v1 import health_pb2  # type: ignore[import-untyped]
from grpc_reflection.v1alpha import reflection_pb2  # type: ignore[import-untyped]

from dh_serverless.core.api import GrpcListener, Lifecycle
from dh_serverless.hookspecs import (
    DispatchError,
    EventTimeoutError,
    ShuttingDownError,
    WorkerBusyError,
)
from dh_serverless.triggers.openinference._generated import dh_openinference_pb2 as pb
from dh_serverless.triggers.openinference._grpc_codec import (
    Undecodable,
    encode_response,
    lenient,
    parse_request,
)
from dh_serverless.triggers.openinference._metrics import ProtocolMetrics, dispatch_outcome
from dh_serverless.triggers.openinference._model import HandlerOutputError, Model
from dh_serverless.triggers.openinference._request import RequestError, cap
from dh_serverless.triggers.openinference._serving import HandlerError, Inference

__all__ = ("SERVICE", "GrpcServer", "status_code")

SERVICE = "inference.GRPCInferenceService"
_PRIVATE_PACKAGE = pb.DESCRIPTOR.package
_HTTP_TO_GRPC = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.ALREADY_EXISTS,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    501: grpc.StatusCode.UNIMPLEMENTED,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}
_DISPATCH_CODES = {
    WorkerBusyError: grpc.StatusCode.RESOURCE_EXHAUSTED,
    EventTimeoutError: grpc.StatusCode.DEADLINE_EXCEEDED,
    ShuttingDownError: grpc.StatusCode.UNAVAILABLE,
}


def status_code(http_status: int) -> grpc.StatusCode:
    """The gRPC code for an HTTP status of an error answer."""
    code = _HTTP_TO_GRPC.get(http_status)
    if code is not None:
        return code
    return grpc.StatusCode.INTERNAL if http_status >= 500 else grpc.StatusCode.UNKNOWN


def _public_descriptors() -> descriptor_pool.DescriptorPool:
    """A private pool describing our service as package ``inference`` (for reflection)."""
    proto = descriptor_pb2.FileDescriptorProto.FromString(pb.DESCRIPTOR.serialized_pb)
    old, new = f".{_PRIVATE_PACKAGE}.", ".inference."
    proto.name = "grpc_service.proto"
    proto.package = "inference"

    def rename(message: Any) -> None:
        for field in message.field:
            if field.type_name.startswith(old):
                field.type_name = new + field.type_name[len(old) :]
        for nested in message.nested_type:
            rename(nested)

    for message in proto.message_type:
        rename(message)
    for service in proto.service:
        for method in service.method:
            method.input_type = new + method.input_type[len(old) :]
            method.output_type = new + method.output_type[len(old) :]
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    for module in (health_pb2, reflection_pb2):
        pool.Add(descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb))
    return pool


def _unary(fn: Callable[..., Any], request: Any, response: Any) -> grpc.RpcMethodHandler:
    return grpc.unary_unary_rpc_method_handler(
        fn,
        request_deserializer=lenient(request.FromString),
        response_serializer=response.SerializeToString,
    )


async def _decoded(request: Any, context: Any) -> None:
    """Abort with ``INVALID_ARGUMENT`` when the request message could not be decoded."""
    if isinstance(request, Undecodable):
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)


class GrpcServer:
    """The gRPC server of one trigger."""

    def __init__(
        self,
        model: Model,
        inference: Inference,
        metrics: ProtocolMetrics,
        *,
        max_message_bytes: int,
        is_ready: Callable[[], bool],
        logger: Any,
        reuse_port: bool = False,
    ) -> None:
        self.model = model
        self.reuse_port = reuse_port
        self.inference = inference
        self.metrics = metrics
        self.is_ready = is_ready
        self.logger = logger
        self.max_message_bytes = max_message_bytes
        self.listener: GrpcListener | None = None
        # calls with a deadline run shielded on a task of their own, tracked here
        self._life = Lifecycle("openinference gRPC server", logger)
        self._over_budget = (
            f"the server is receiving {inference.budget.limit} bytes of requests already "
            "(attributes.maxBytesInFlight); retry later"
        )
        self._live = pb.ServerLiveResponse(live=True)
        self._ready = pb.ServerReadyResponse(ready=True)
        self._not_ready = pb.ServerReadyResponse(ready=False)
        self._model_ready = pb.ModelReadyResponse(ready=True)
        self._model_not_ready = pb.ModelReadyResponse(ready=False)
        meta = model.server_metadata
        self._server_metadata = pb.ServerMetadataResponse(
            name=meta["name"], version=meta["version"], extensions=meta["extensions"]
        )
        md = model.metadata
        tensor = pb.ModelMetadataResponse.TensorMetadata
        self._model_metadata = pb.ModelMetadataResponse(
            name=md["name"],
            versions=md["versions"],
            platform=md["platform"],
            inputs=[tensor(**t) for t in md["inputs"]],
            outputs=[tensor(**t) for t in md["outputs"]],
        )

    # -- the RPCs ------------------------------------------------------------------

    async def server_live(self, request: Any, context: Any) -> Any:
        return self._live

    async def server_ready(self, request: Any, context: Any) -> Any:
        return self._ready if self.is_ready() else self._not_ready

    async def model_ready(self, request: Any, context: Any) -> Any:
        await _decoded(request, context)
        ready = self.model.serves(request.name, request.version) and self.is_ready()
        return self._model_ready if ready else self._model_not_ready

    async def server_metadata(self, request: Any, context: Any) -> Any:
        return self._server_metadata

    async def model_metadata(self, request: Any, context: Any) -> Any:
        await _decoded(request, context)
        if not self.model.serves(request.name, request.version):
            error = self.model.not_found(request.name, request.version)
            await context.abort(grpc.StatusCode.NOT_FOUND, error.message)
        return self._model_metadata

    async def model_infer(self, request: Any, context: Any) -> Any:
        if isinstance(request, Undecodable):  # _decoded, inline: no coroutine per call
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
        outcome = self.metrics.outcome
        model = self.model
        if not model.serves(request.model_name, request.model_version):
            outcome["not_found"].inc()
            error = model.not_found(request.model_name, request.model_version)
            await context.abort(grpc.StatusCode.NOT_FOUND, error.message)
        if context.time_remaining() is None:
            code, message, response = await self._infer(request)
        else:
            # Shielded: a client whose deadline passes must not cancel the handler, which
            # would cost a thread or process worker its life. (Only calls with a deadline:
            # the extra task costs a loop turn per call.)
            task = self._life.spawn(self._infer(request))
            code, message, response = await asyncio.shield(task)
        if code is not None:
            await context.abort(code, message)
        return response

    async def _infer(self, request: Any) -> tuple[grpc.StatusCode | None, str, Any]:
        start = time.perf_counter()
        metrics = self.metrics
        outcome = metrics.outcome
        try:
            parsed = parse_request(request)
            # Tensor bytes, counted while parsing: ByteSize() would encode the whole message.
            size = parsed.size
            metrics.bytes_in.value += size
            budget = self.inference.budget
            if not budget.try_take(size):
                outcome["busy"].inc()
                return grpc.StatusCode.RESOURCE_EXHAUSTED, self._over_budget, None
            try:
                result, outputs, _ = await self.inference.run(parsed, "grpc", size)
            finally:
                budget.give_back(size)
            model = self.model
            response, sent = encode_response(
                model.name,
                model.version,
                result.id or parsed.id,
                result.parameters,
                outputs,
                parsed.typed,
            )
        except RequestError as exc:
            outcome["not_found" if exc.status == 404 else "invalid"].inc()
            return status_code(exc.status), exc.message, None
        except HandlerError as exc:
            outcome["error" if exc.status >= 500 else "invalid"].inc()
            return status_code(exc.status), exc.message, None
        except HandlerOutputError as exc:
            outcome["error"].inc()
            return grpc.StatusCode.INTERNAL, str(exc), None
        except DispatchError as exc:
            outcome[dispatch_outcome(exc)].inc()
            code = _DISPATCH_CODES.get(type(exc), grpc.StatusCode.INTERNAL)
            return code, str(exc) or type(exc).__name__, None
        except Exception as exc:
            outcome["error"].inc()
            self.logger.error("openinference: cannot answer ModelInfer: %s", exc, exc_info=exc)
            message = cap(f"internal error: {type(exc).__name__}: {exc}")
            return grpc.StatusCode.INTERNAL, message, None
        outcome["ok"].inc()
        metrics.bytes_out.value += sent
        metrics.seconds.observe(time.perf_counter() - start)
        return None, "", response

    # -- life cycle ----------------------------------------------------------------

    async def start(self, host: str, port: int) -> int:
        """Bind and start; return the port (the one picked for ``port`` 0)."""
        self._life.start()
        listener = GrpcListener(
            host,
            port,
            max_message_bytes=self.max_message_bytes,
            # a port in use is an error, not a shared port, unless processes share it
            reuse_port=self.reuse_port,
            reflection_pool=_public_descriptors(),
        )
        handlers = {
            "ServerLive": _unary(self.server_live, pb.ServerLiveRequest, pb.ServerLiveResponse),
            "ServerReady": _unary(self.server_ready, pb.ServerReadyRequest, pb.ServerReadyResponse),
            "ModelReady": _unary(self.model_ready, pb.ModelReadyRequest, pb.ModelReadyResponse),
            "ServerMetadata": _unary(
                self.server_metadata, pb.ServerMetadataRequest, pb.ServerMetadataResponse
            ),
            "ModelMetadata": _unary(
                self.model_metadata, pb.ModelMetadataRequest, pb.ModelMetadataResponse
            ),
            "ModelInfer": _unary(self.model_infer, pb.ModelInferRequest, pb.ModelInferResponse),
        }
        # The listener's method table: found by one lookup, before any generic handler.
        listener.server.add_registered_method_handlers(SERVICE, handlers)
        try:
            bound = await listener.start([SERVICE])
        except BaseException:
            self._life.abort()
            raise
        self.listener = listener
        return bound

    async def stop(self, grace: float) -> None:
        """Report NOT_SERVING, let calls finish for up to ``grace`` seconds, then stop."""
        if not self._life.begin_stop():
            return
        listener, self.listener = self.listener, None
        assert listener is not None
        await listener.stop(grace)
        await self._life.drain(1.0)  # shielded calls whose clients the stop cancelled
