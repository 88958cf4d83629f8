"""A gRPC listener on ``grpc.aio``: options, health, reflection, bind errors, graceful stop.

What every gRPC trigger needs besides its own service::

    listener = GrpcListener(host, port, max_message_bytes=16 * 1024 * 1024)
    my_pb2_grpc.add_MyServicer_to_server(servicer, listener.server)
    port = await listener.start(["my.package.MyService"])  # the bound port (for port 0)
    ...
    await listener.stop(grace=5.0)  # NOT_SERVING, calls finish for 5 s, then cancelled

- The server runs on the running event loop (``grpc.aio``), where ``dispatch`` lives.
- ``SO_REUSEPORT`` is off: a port taken by another process fails the start instead of
  being shared with it silently (gRPC turns it on by default). Multi-process serving on
  one shared port asks for it with ``reuse_port=True``.
- ``grpc.health.v1.Health`` answers ``SERVING`` for ``""`` and every service named to
  :meth:`GrpcListener.start`, and ``NOT_SERVING`` from the moment :meth:`~GrpcListener.stop`
  begins; server reflection lists the services (from a descriptor pool of the trigger's
  choosing, when its service is registered under another name than its messages' package).
- A port that cannot be bound raises ``OSError("cannot listen on HOST:PORT (gRPC):
  REASON")``, IPv6 hosts written ``[host]:port``.
- Keepalive stays at gRPC's defaults (pings every two hours, none accepted more often than
  every five minutes) unless ``options`` says otherwise.
- Methods registered with ``add_registered_method_handlers`` (what grpcio-tools' generated
  ``add_*_to_server`` does, and health's) are served from one table looked up first, not
  as gRPC's pre-registered methods: ``grpc.aio``'s serving loop keeps one pending future
  per registered method and waits on all of them for every call, which cost each call
  18,000-23,000 instructions with health's two methods and the trigger's
  (``bench/instructions``).
- ``grpc.aio``'s poller thread runs under ``SCHED_BATCH`` once a listener has started, so
  that a completed operation does not preempt the event loop only to wait for the GIL
  (:mod:`dh_serverless.core.scheduling`).

Importing this module imports ``grpc``: only a trigger that serves gRPC does.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Sequence
from typing import Any

try:
    import grpc  # type: ignore[import-untyped]
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc  # type: ignore[import-untyped]
    from grpc_reflection.v1alpha import reflection  # type: ignore[import-untyped]
except ImportError as exc:  # pragma: no cover - the extra is installed wherever tests run
    raise ImportError(
        f"the gRPC listener needs grpcio, grpcio-health-checking and grpcio-reflection "
        f"(pip install 'dh-serverless-core[grpc]'): {exc}"
    ) from exc

from dh_serverless.core.scheduling import batch_the_grpc_poller
from dh_serverless.core.serving.addresses import (
    bind_reason,
    check_shared_port,
    format_address,
    listen_error,
)

__all__ = ("DEFAULT_MAX_MESSAGE_BYTES", "GrpcListener")

#: gRPC's own limit on a received message (4 MiB); sending is unlimited by default.
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024

_SERVING = health_pb2.HealthCheckResponse.SERVING


class _MethodTable(grpc.GenericRpcHandler):  # type: ignore[misc]
    """Registered methods by full name (``/pkg.Service/Method``): one dict lookup."""

    def __init__(self) -> None:
        self.methods: dict[str, Any] = {}

    def service(self, handler_call_details: Any) -> Any:
        return self.methods.get(handler_call_details.method)


class _Server:
    """The ``grpc.aio.Server``, but ``add_registered_method_handlers`` fills the listener's
    :class:`_MethodTable` (consulted before any generic handler, as gRPC consults
    registered methods first)."""

    def __init__(self, server: Any) -> None:
        self._server = server
        self._table = _MethodTable()
        server.add_generic_rpc_handlers((self._table,))

    def add_registered_method_handlers(self, service_name: str, method_handlers: Any) -> None:
        for method, handler in method_handlers.items():
            self._table.methods[f"/{service_name}/{method}"] = handler

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)


class GrpcListener:
    """One ``grpc.aio`` server on ``host:port``, with health and reflection.

    Register the trigger's services on :attr:`server` before :meth:`start`.

    :param host: the address to bind (``0.0.0.0``, ``::``, ``127.0.0.1``).
    :param port: the port, ``0`` for any free one (:attr:`port` tells which).
    :param max_message_bytes: the largest message received or sent.
    :param max_concurrent_streams: HTTP/2 streams one connection may open at once
        (``None``: gRPC's default, unlimited).
    :param reuse_port: set ``SO_REUSEPORT``, only for several serving processes that share
        one port on purpose.
    :param reflection: serve ``grpc.reflection.v1alpha.ServerReflection``.
    :param reflection_pool: the descriptor pool reflection describes the services from
        (``None``: the process-wide one).
    :param options: more ``grpc.aio.server`` channel arguments (keepalive, ...); they win
        over the ones above.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        max_concurrent_streams: int | None = None,
        reuse_port: bool = False,
        reflection: bool = True,
        reflection_pool: Any = None,
        options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        self.host = host
        self.requested_port = port
        self.port: int | None = None  #: the port bound, once started
        chosen: dict[str, Any] = {
            "grpc.so_reuseport": int(reuse_port),
            "grpc.max_receive_message_length": max_message_bytes,
            "grpc.max_send_message_length": max_message_bytes,
        }
        if max_concurrent_streams is not None:
            chosen["grpc.max_concurrent_streams"] = max_concurrent_streams
        chosen.update(options)
        #: the ``grpc.aio.Server`` (registered methods kept in a table of ours, see the
        #: module's notes): add the trigger's servicers to it before :meth:`start`
        self.server: Any = _Server(grpc.aio.server(options=list(chosen.items())))
        #: the ``grpc.health.v1`` servicer (``set(service, status)`` for finer states)
        self.health: Any = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self._reflection = reflection
        self._reuse_port = reuse_port
        self._reflection_pool = reflection_pool
        self._state = "new"

    @property
    def address(self) -> str:
        """``host:port`` as bound (``[host]:port`` for IPv6), or as asked before start."""
        return format_address(self.host, self.port or self.requested_port)

    async def start(self, services: Iterable[str] = ()) -> int:
        """Bind, start serving and report ``services`` as ``SERVING``; return the port bound.

        :param services: the full names of the trigger's services (``pkg.Service``), for
            health and reflection.
        :raises OSError: the address cannot be bound (the message names it and why).
        :raises RuntimeError: started twice.
        """
        if self._state != "new":
            raise RuntimeError(f"gRPC listener on {self.address} already started")
        check_shared_port(self._reuse_port, self.host, self.requested_port, "gRPC")
        self._state = "starting"
        names = tuple(services)
        if self._reflection:
            reflection.enable_server_reflection(
                (*names, health.SERVICE_NAME, reflection.SERVICE_NAME),
                self.server,
                pool=self._reflection_pool,
            )
        address = format_address(self.host, self.requested_port)
        try:
            bound = self.server.add_insecure_port(address)
        except RuntimeError:  # recent gRPC raises "Failed to bind to address ..."
            bound = 0
        if not bound:
            self._state = "stopped"
            await self.server.stop(None)  # never started: frees what it holds
            reason = bind_reason(self.host, self.requested_port, socket.SOCK_STREAM)
            raise listen_error(
                self.host, self.requested_port, "gRPC", reason or "address in use or not available"
            )
        self.port = int(bound)
        await self.server.start()
        batch_the_grpc_poller()
        for name in ("", *names):
            await self.health.set(name, _SERVING)
        self._state = "serving"
        return self.port

    async def stop(self, grace: float) -> None:
        """Stop: health says ``NOT_SERVING``, new calls are refused, calls in flight finish
        for up to ``grace`` seconds and are then cancelled. Safe to call more than once,
        and before :meth:`start`."""
        state, self._state = self._state, "stopped"
        if state != "serving":
            if state == "new":
                await self.server.stop(None)  # nothing bound: frees the server's resources
            return
        await self.health.enter_graceful_shutdown()
        await self.server.stop(max(grace, 0.0))
