"""The extproc trigger: Envoy's ``ExternalProcessor`` on the core's gRPC listener.

The listener (:class:`~dh_serverless.core.api.GrpcListener`) runs ``grpc.aio`` on the
runtime's loop and, besides ``envoy.service.ext_proc.v3.ExternalProcessor``, answers
``grpc.health.v1.Health`` (SERVING while up, NOT_SERVING while draining) and server
reflection. ``SO_REUSEPORT`` is off, so a second processor on a taken port fails to start
instead of sharing it (reference gotcha G11).
"""

from __future__ import annotations

import logging
from typing import ClassVar

import cattrs
from envoy.service.ext_proc.v3 import external_processor_pb2 as ep  # type: ignore[import-untyped]
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as ep_grpc

from dh_serverless.core.api import GrpcListener, Lifecycle, format_address
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
        self._listener: GrpcListener | None = None
        self._life = Lifecycle(f"extproc trigger {self.name!r}", self._logger)
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
        self._life.start()
        try:
            await self._start(dispatch)
        except BaseException:
            self._life.abort()
            raise

    async def _start(self, dispatch: Dispatch) -> None:
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
        # A port each (Envoy's one HTTP/2 connection per endpoint): never SO_REUSEPORT.
        listener = GrpcListener(
            a.host,
            a.port + self.process,
            max_message_bytes=max(4 * _MIB, options.per_request_body_buffer_bytes + _MIB),
            max_concurrent_streams=a.max_concurrent_streams,
        )
        processor = Processor(self.name, a, dispatch, stats, self._logger, self._observer)
        ep_grpc.add_ExternalProcessorServicer_to_server(processor, listener.server)
        self._port = await listener.start([SERVICE_NAME])
        self._listener = listener
        if self._observer is not None:
            self._observer.start()
        self._logger.info(
            "extproc trigger %s (%s) listening on %s",
            self.name, a.type, format_address(a.host, self._port),
        )  # fmt: skip

    async def stop(self, timeout: float) -> None:
        """Report NOT_SERVING, refuse new streams, let streams in flight finish for up to
        ``min(timeout, gracefulShutdownTimeout)`` seconds, then cancel them."""
        if not self._life.begin_stop():
            return
        listener, self._listener = self._listener, None
        assert listener is not None
        grace = max(min(timeout, float(self.attributes.graceful_shutdown_timeout)), 0.0)
        await listener.stop(grace)
        if self._observer is not None:
            await self._observer.stop(1.0)
        await self._life.drain(0)  # stopped: the gRPC server drained its own calls
        self._logger.info("extproc trigger %s stopped", self.name)
