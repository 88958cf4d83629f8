"""The peer: a bare aiohttp server doing the same echo, on the same event loop (uvloop)."""

import sys

import uvloop
from aiohttp import web


async def echo(request: web.Request) -> web.Response:
    return web.Response(body=await request.read(), content_type="text/plain")


app = web.Application()
app.router.add_route("*", "/{tail:.*}", echo)
web.run_app(
    app,
    host="127.0.0.1",
    port=int(sys.argv[1]),
    access_log=None,
    print=None,
    loop=uvloop.new_event_loop(),
)
