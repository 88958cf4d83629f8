"""The extproc trigger: a grpc.aio server of Envoy's ``ExternalProcessor`` on the runtime's loop.

Besides ``envoy.service.ext_proc.v3.ExternalProcessor`` the server answers
``grpc.health.v1.Health`` (SERVING while up, NOT_SERVING while draining) and server
reflection. ``SO_REUSEPORT`` is off, so a second processor on a taken port fails to start
instead of sharing it (reference gotcha G11).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import cattrs
import grpc  # type: ignore[import-untyped]
from envoy.service.ext_proc.v3 import external_processor_pb2 as ep  # type: ignore[import-untyped]
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as ep_grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc  # type: ignore[import-untyped]
from grpc_reflection.v1alpha import reflection  # type: ignore[import-untyped]

from dh_serverless.hookspecs import Dispatch, TriggerSpec, impl
from dh_serverless.triggers.extproc.config import ExtprocAttributes
from dh_serverless.triggers.extproc.observer import Observer
from dh_serverless.triggers.extproc.result import convert_result
from dh_serverless.triggers.extproc.stats import TriggerStats
from dh_serverless.triggers.extproc.stream import Processor

__all__ = ("SERVICE_NAME", "ExtprocTrigger", "dh_register_converters")

#: The full name of Envoy's ext_proc service.
SERVICE_NAME = ep.DESCRIPTOR.services_by_name["ExternalProcessor"].full_name
_MIB = 1024 * 1024


@impl
def dh_register_converters(converter: cattrs.Converter) -> None:
    """Nothing to add: the extproc attributes use plain types only."""


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class ExtprocTrigger:
    """Envoy External Processing (``kind: extproc``). See the package README."""

    kind: ClassVar[str] = "extproc"
    attributes_type: ClassVar[type] = ExtprocAttributes
    result_converter = staticmethod(convert_result)
    #: ``spec.processes`` (or the ``processes`` attribute): process ``i`` serves ``port + i``,
    #: as Envoy sends every stream of one worker over one connection per endpoint
    serving_processes: ClassVar[str] = "port_each"

    def __init__(self, spec: TriggerSpec) -> None:
        self.name = spec.name
        self.spec = spec
        self.attributes: ExtprocAttributes = spec.attributes
        self._logger: logging.Logger = spec.logger
        self.process = spec.process
        self._server: grpc.aio.Server | None = None
        self._health: Any = None
        self._observer: Observer | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The port served: the configured one plus this serving process's index (``port +
        spec.process``), or the one picked for ``port: 0``."""
        if self._port is not None:
            return self._port
        return self.attributes.port + self.process

    async def start(self, dispatch: Dispatch) -> None:
        """Bind the gRPC server on ``port + spec.process``; return once serving."""
        if self._server is not None:
            raise RuntimeError(f"extproc trigger {self.name!r} already started")
        a = self.attributes
        if self.spec.processes > 1 and a.port == 0:
            raise OSError(
                f"port 0 cannot be split across {self.spec.processes} processes: set port"
            )
        options = a.processing_options
        stats = TriggerStats(self.spec.metrics, self.name, a.type)
        if a.type == "observeprocessor":
            self._observer = Observer(
                self.name,
                dispatch,
                stats,
                self._logger,
                capacity=options.observe_queue_size,
                consumers=self.spec.workers,
            )
        size = max(4 * _MIB, options.per_request_body_buffer_bytes + _MIB)
        server = grpc.aio.server(
            options=[
                ("grpc.so_reuseport", 0),
                ("grpc.max_concurrent_streams", a.max_concurrent_streams),
                ("grpc.max_receive_message_length", size),
                ("grpc.max_send_message_length", size),
            ]
        )
        processor = Processor(self.name, a, dispatch, stats, self._logger, self._observer)
        ep_grpc.add_ExternalProcessorServicer_to_server(processor, server)
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        address = _address(a.host, a.port + self.process)
        try:
            port = server.add_insecure_port(address)
        except RuntimeError as exc:
            port = 0
            reason: object = exc
        else:
            reason = "address in use or not available"
        if not port:
            raise OSError(f"cannot listen on {address}: {reason}")
        self._port = port
        await server.start()
        self._server = server
        await self._health.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
        if self._observer is not None:
            self._observer.start()
        self._logger.info(
            "extproc trigger %s (%s) listening on %s",
            self.name, a.type, _address(a.host, port),
        )  # fmt: skip

    async def stop(self, timeout: float) -> None:
        """Report NOT_SERVING, refuse new streams, let streams in flight finish for up to
        ``min(timeout, gracefulShutdownTimeout)`` seconds, then cancel them."""
        server, self._server = self._server, None
        if server is None:
            return
        grace = max(min(timeout, float(self.attributes.graceful_shutdown_timeout)), 0.0)
        await self._health.enter_graceful_shutdown()
        await server.stop(grace)
        if self._observer is not None:
            await self._observer.stop(1.0)
        self._logger.info("extproc trigger %s stopped", self.name)
