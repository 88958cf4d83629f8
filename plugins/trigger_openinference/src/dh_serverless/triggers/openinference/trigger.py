"""The ``openinference`` trigger: a function served as a model over REST and gRPC."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, ClassVar

from dh_serverless.core.api import ByteBudget, HttpListener, Lifecycle, json_answer, serve_handler
from dh_serverless.hookspecs import Dispatch, TriggerInfo, TriggerSpec
from dh_serverless.triggers.openinference._batching import BatchingInference
from dh_serverless.triggers.openinference._grpc import GrpcServer
from dh_serverless.triggers.openinference._metrics import ProtocolMetrics
from dh_serverless.triggers.openinference._model import Model
from dh_serverless.triggers.openinference._rest import make_handler
from dh_serverless.triggers.openinference._serving import Inference
from dh_serverless.triggers.openinference.config import OpenInferenceAttributes
from dh_serverless.triggers.openinference.results import to_result

__all__ = ("OpenInferenceTrigger",)


class OpenInferenceTrigger:
    """Serves the handler as the model ``model_name`` (see the package README)."""

    kind: ClassVar[str] = "openinference"
    attributes_type: ClassVar[type] = OpenInferenceAttributes
    #: handler results become outputs in the worker: numpy arrays are never listed
    result_converter = staticmethod(to_result)
    #: ``spec.processes``: every process binds both ports with ``SO_REUSEPORT``
    serving_processes: ClassVar[str] = "shared_port"

    def __init__(self, spec: TriggerSpec) -> None:
        self.name = spec.name
        self.spec = spec
        self.attributes: OpenInferenceAttributes = spec.attributes
        self.model = Model(self.attributes)
        self._logger: logging.Logger = spec.logger
        self._ready = False
        self._life = Lifecycle(f"openinference trigger {self.name!r}", spec.logger)
        self._rest: HttpListener | None = None
        self._grpc: GrpcServer | None = None
        self._batching: BatchingInference | None = None
        self.rest_port: int | None = None
        self.grpc_port: int | None = None
        model = self.model.name
        self._rest_metrics = ProtocolMetrics(spec.metrics, model, "rest")
        self._grpc_metrics = ProtocolMetrics(spec.metrics, model, "grpc")

    def _is_ready(self) -> bool:
        return self._ready

    async def start(self, dispatch: Dispatch) -> None:
        """Start the REST and gRPC servers that are enabled; return once both listen."""
        self._life.start()
        a = self.attributes
        processes = self.spec.processes
        for port, what in ((a.rest_port, a.enable_rest), (a.grpc_port, a.enable_grpc)):
            if processes > 1 and what and port == 0:
                self._life.abort()
                raise OSError(f"port 0 cannot be shared by {processes} processes: set the ports")
        inference = self._inference(dispatch)
        try:
            if a.enable_rest:
                await self._start_rest(inference)
            if a.enable_grpc:
                self._grpc = GrpcServer(
                    self.model,
                    inference,
                    self._grpc_metrics,
                    max_message_bytes=a.max_message_bytes,
                    is_ready=self._is_ready,
                    logger=self._logger,
                    reuse_port=processes > 1,
                )
                self.grpc_port = await self._grpc.start(a.host, a.grpc_port)
        except BaseException:
            await self.stop(0)
            raise
        self._ready = True
        self._logger.info(
            "openinference trigger %s serving model %s version %s (REST %s, gRPC %s, "
            "tensors as %s%s)",
            self.name, self.model.name, self.model.version,
            f"{a.host}:{self.rest_port}" if a.enable_rest else "off",
            f"{a.host}:{self.grpc_port}" if a.enable_grpc else "off",
            a.tensors,
            f"; batches of up to {a.max_batch_size} rows, {a.max_queue_delay * 1000:g} ms "
            "queue delay" if a.batching else "",
        )  # fmt: skip

    def _inference(self, dispatch: Dispatch) -> Inference:
        a = self.attributes
        info = TriggerInfo(self.kind, self.name)
        numpy, budget = a.tensors == "numpy", ByteBudget(a.max_bytes_in_flight)
        if not a.batching:
            return Inference(
                self.model, dispatch, info, numpy, max_list_elements=a.max_list_elements,
                budget=budget,
            )  # fmt: skip
        self._batching = BatchingInference(
            self.model,
            dispatch,
            info,
            numpy,
            max_list_elements=a.max_list_elements,
            budget=budget,
            max_batch_size=a.max_batch_size,
            max_queue_delay=a.max_queue_delay,
            preferred_batch_sizes=a.preferred_batch_sizes,
            max_queue_size=a.max_queue_size,
            concurrency=self.spec.workers,
            metrics=self.spec.metrics,
        )
        return self._batching

    async def _start_rest(self, inference: Inference) -> None:
        a = self.attributes
        handler = make_handler(
            self.model,
            inference,
            self._rest_metrics,
            limit=a.max_request_body_size,
            is_ready=self._is_ready,
            logger=self._logger,
        )
        self._rest = await serve_handler(
            handler,
            a.host,
            a.rest_port,
            name=f"openinference trigger {self.name!r} (REST)",
            hint="choose another port (attributes.rest_port)",
            answer=json_answer,
            logger=self._logger,
            reuse_port=self.spec.processes > 1,
        )
        self.rest_port = self._rest.port

    async def stop(self, timeout: float) -> None:
        """Stop taking requests, let in-flight ones finish for up to ``timeout`` seconds."""
        if not self._life.begin_stop():
            return
        self._ready = False
        if self._batching is not None:
            self._batching.close()  # queued requests go now; new ones get 503
        timeout = max(timeout, 0.0)
        stops: list[Coroutine[Any, Any, object]] = []
        if self._grpc is not None:
            grpc_server, self._grpc = self._grpc, None
            stops.append(grpc_server.stop(timeout))
        rest, self._rest = self._rest, None
        if rest is not None:
            # In-flight requests finish within the timeout, then are cancelled.
            stops.append(rest.stop(timeout, self._life))
        else:
            stops.append(self._life.drain(0))
        await asyncio.gather(*stops)
        self._logger.info("openinference trigger %s stopped", self.name)
