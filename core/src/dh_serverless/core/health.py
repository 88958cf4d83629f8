"""The health server: ``/live``, ``/ready`` and ``/metrics`` (Prometheus text)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

if TYPE_CHECKING:
    from dh_serverless.core.serving.http import HttpListener
    from dh_serverless.core.serving_processes import ServingProcesses

__all__ = ("HealthServer",)


class HealthServer:
    """Serves the process's health on its own port, apart from every trigger.

    ``/live`` is 200 while the process runs; ``/ready`` is 200 only while ``is_ready()``
    (every trigger started and every worker ran ``init_context``), 503 while starting
    or draining; ``/metrics`` is the registry in Prometheus text format.

    With ``children`` (``spec.processes`` above 1) ``/ready`` is 200 only when every
    child is ready too, and ``/metrics`` sums every child's families into this process's.
    With ``unix_path`` it listens on that Unix socket instead (a child's, for its parent).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        is_ready: Callable[[], str | None],
        registry: CollectorRegistry,
        children: ServingProcesses | None = None,
        unix_path: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._is_ready = is_ready
        self._registry = registry
        self._children = children
        self._unix_path = unix_path
        self._listener: HttpListener | None = None

    async def start(self) -> None:
        """Bind the port; a port that cannot be bound is a :class:`ListenError` (an
        ``OSError`` and a ``UserError`` naming ``--health-port``)."""
        from dh_serverless.core.serving.http import serve_app

        app = web.Application()
        app.router.add_get("/live", self._live)
        app.router.add_get("/ready", self._ready)
        app.router.add_get("/metrics", self._metrics)
        self._listener = await serve_app(
            app, self.host, self.port, name="health server",
            hint="choose another port with --health-port", path=self._unix_path,
        )  # fmt: skip
        if self._unix_path is None:
            self.port = self._listener.port

    async def stop(self) -> None:
        """Close the port."""
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.stop()

    async def _live(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "live"})

    async def _ready(self, _: web.Request) -> web.Response:
        state = self._is_ready()
        if state is None and self._children is not None:
            waiting = await self._children.not_ready()
            if waiting:
                return web.json_response(
                    {"status": "starting", "processes_not_ready": waiting}, status=503
                )
        if state is None:
            return web.json_response({"status": "ready"})
        return web.json_response({"status": state}, status=503)

    async def _metrics(self, _: web.Request) -> web.Response:
        body = generate_latest(self._registry)
        if self._children is not None:
            from dh_serverless.core.serving_processes import merge_metrics

            texts = await self._children.scrape()
            body = merge_metrics(body.decode(), texts).encode()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
