"""The Python floor: a bare grpc.aio ext_proc processor that answers every message CONTINUE.

    python bare_processor.py PORT

Same server model as the trigger (grpc.aio on uvloop, a ``context.read()/write()`` loop,
``SO_REUSEPORT`` off) with prebuilt replies and nothing else: no event, no handler.
"""

from __future__ import annotations

import asyncio
import signal
import sys

import grpc
import uvloop
from envoy.service.ext_proc.v3 import external_processor_pb2 as ep
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as ep_grpc

_TYPES = {
    "request_headers": ep.HeadersResponse,
    "response_headers": ep.HeadersResponse,
    "request_body": ep.BodyResponse,
    "response_body": ep.BodyResponse,
    "request_trailers": ep.TrailersResponse,
    "response_trailers": ep.TrailersResponse,
}
REPLIES = {kind: ep.ProcessingResponse(**{kind: t()}) for kind, t in _TYPES.items()}


class Bare:
    async def Process(self, _requests, context):
        while True:
            request = await context.read()
            if request is grpc.aio.EOF:
                return
            await context.write(REPLIES[request.WhichOneof("request")])


async def main(port: int) -> None:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    ep_grpc.add_ExternalProcessorServicer_to_server(Bare(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    stopped = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
    await stopped.wait()
    await server.stop(1)


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))
