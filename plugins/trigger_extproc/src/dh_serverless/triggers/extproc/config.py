"""The ``attributes`` of an ``extproc`` trigger, as the original project's README writes them.

``function.yaml``::

    triggers:
      myextproctrigger:
        kind: extproc
        maxWorkers: 4
        attributes:
          type: wrapprocessor
          port: 5051
          gracefulShutdownTimeout: 15
          maxConcurrentStreams: 100
          processingOptions:
            requestIdHeaderName: x-request-id
            bufferStreamedBodies: true
            perRequestBodyBufferBytes: 102400
            decompressBodies: true

Keys match ignoring case and underscores. A partial ``processingOptions`` keeps the
defaults of the keys it leaves out (the original zero-fills them).
"""

from __future__ import annotations

from typing import Literal

import attrs

from dh_serverless.core.api import validators

__all__ = (
    "PROCESSOR_TYPES",
    "ExtprocAttributes",
    "ProcessingOptions",
)

#: The four processor types, as the original names them.
PROCESSOR_TYPES = ("preprocessor", "postprocessor", "observeprocessor", "wrapprocessor")

ProcessorType = Literal["preprocessor", "postprocessor", "observeprocessor", "wrapprocessor"]


@attrs.frozen
class ProcessingOptions:
    """``attributes.processingOptions``: how messages are logged, bodies buffered and decoded.

    :param log_stream: log one line when a stream starts and ends (info level).
    :param log_phases: log one line per message: phase, outcome, time (info level).
    :param update_ext_proc_header: add ``x-extproc-names: <type>`` to the client's response.
    :param update_duration_header: add ``x-extproc-duration-ns`` (handler time of the
        request, in ns) to the client's response.
    :param request_id_header_name: the header whose value becomes ``event.id``.
    :param request_id_fallback: ``event.id`` when that header is missing.
    :param buffer_streamed_bodies: gather the chunks of a STREAMED body and call the handler
        once, at the end of the stream, with the whole body (the chunks are held back and
        the handler's body, or the original, is sent as the last chunk). Off: the handler
        is called per chunk and its body replaces that chunk.
    :param per_request_body_buffer_bytes: the largest body (after decompression) handed to
        the handler; see ``body_over_limit``.
    :param body_over_limit: ``reject`` answers 413 to a larger body; ``passthrough`` lets
        it through unchanged without calling the handler. Both are counted.
    :param decompress_bodies: hand the handler ``gzip`` and ``deflate`` bodies decompressed;
        a body it replaces goes on uncompressed, without ``content-encoding``.
    :param on_error: what a handler exception, a timeout or a busy pool does to the
        message: ``passthrough`` (default, as the original's README promises) lets the
        original message go on unchanged; ``reject`` answers 500, 504 or 503 at once.
    :param observe_queue_size: observeprocessor only: events waiting for a worker; when it
        is full new events are dropped and counted.
    """

    log_stream: bool = False
    log_phases: bool = False
    update_ext_proc_header: bool = False
    update_duration_header: bool = False
    request_id_header_name: str = "x-request-id"
    request_id_fallback: str = ""
    buffer_streamed_bodies: bool = True
    per_request_body_buffer_bytes: int = attrs.field(
        default=1024 * 1024, validator=validators.at_least(1, "perRequestBodyBufferBytes")
    )
    body_over_limit: Literal["reject", "passthrough"] = "reject"
    decompress_bodies: bool = True
    on_error: Literal["passthrough", "reject"] = "passthrough"
    observe_queue_size: int = attrs.field(
        default=1000, validator=validators.at_least(1, "observeQueueSize")
    )


@attrs.frozen
class ExtprocAttributes:
    """``spec.triggers.<name>.attributes`` of an ``extproc`` trigger.

    :param type: ``preprocessor``, ``postprocessor``, ``observeprocessor`` or
        ``wrapprocessor`` (required).
    :param port: the gRPC port (required; ``0`` picks a free one, only with one process).
    :param host: the address to listen on.
    :param graceful_shutdown_timeout: seconds streams in flight get to finish on shutdown.
    :param max_concurrent_streams: HTTP/2 streams (requests) per Envoy connection.
    :param processes: an alias of ``spec.processes`` for this trigger: serve from this many
        processes on ``port`` … ``port + processes - 1`` (Envoy sends every stream of one
        worker over one connection, so one process per port is how the processor scales
        across cores). The core starts the processes (``dh_serverless.core.serving_processes``).
    :param processing_options: see :class:`ProcessingOptions`.
    """

    type: ProcessorType
    port: int = attrs.field(validator=validators.port())
    host: str = "0.0.0.0"
    graceful_shutdown_timeout: int = attrs.field(
        default=15, validator=validators.at_least(0, "gracefulShutdownTimeout")
    )
    max_concurrent_streams: int = attrs.field(
        default=100, validator=validators.at_least(1, "maxConcurrentStreams")
    )
    processes: int = attrs.field(default=1, validator=validators.at_least(1, "processes"))
    processing_options: ProcessingOptions = attrs.Factory(ProcessingOptions)

    def __attrs_post_init__(self) -> None:
        if self.processes > 1 and self.port == 0:
            raise ValueError("processes > 1 needs a fixed port (the copies use port + 1, ...)")
        if self.port + self.processes - 1 > 65535:
            raise ValueError(
                f"port {self.port} + processes {self.processes} - 1 is past 65535; "
                "choose a lower port"
            )
