"""The serving layer: what every network trigger and sink listens through.

- :mod:`.http`: an HTTP listener on aiohttp's public ``ServerRunner``/``TCPSite``;
- :mod:`.grpc`: a gRPC listener on ``grpc.aio`` (options, health, reflection, graceful stop);
- :mod:`.stream` and :mod:`.datagram`: TCP stream and UDP datagram listeners with a
  connection registry, limits and a graceful close;
- :mod:`.lifecycle`: a trigger's started guard, in-flight tracking and drain-then-cancel.

Nothing here is imported eagerly: a job loads no aiohttp and no grpc. Plugins reach these
names through :mod:`dh_serverless.core.api`.
"""
