"""The upstream behind Envoy in the tests: an aiohttp echo server on 127.0.0.1.

    python upstream.py PORT

Any path answers JSON ``{Method, Path, Query, Headers, Body}`` (as the original's echo),
copying the request's ``x-test`` header into the response. ``/gzip`` answers it
gzip-compressed; ``/stream`` answers it in three chunks, 0.2 s apart; ``/count`` tells how many
requests came before.
"""

import asyncio
import gzip
import json
import sys

from aiohttp import web

seen = 0


async def echo(request: web.Request) -> web.StreamResponse:
    global seen
    if request.path == "/count":
        return web.Response(text=str(seen))
    seen += 1
    body = await request.read()
    data = json.dumps(
        {
            "Method": request.method,
            "Path": request.path,
            "Query": request.query_string,
            "Headers": {k.lower(): ",".join(request.headers.getall(k)) for k in request.headers},
            "Body": body.decode("latin-1"),
        }
    ).encode()
    headers = {"content-type": "application/json"}
    if "x-test" in request.headers:
        headers["x-test"] = request.headers["x-test"]
    if request.path == "/gzip":
        headers["content-encoding"] = "gzip"
        return web.Response(body=gzip.compress(data), headers=headers)
    if request.path == "/stream":
        response = web.StreamResponse(headers=headers)
        await response.prepare(request)
        third = len(data) // 3
        for piece in (data[:third], data[third : 2 * third], data[2 * third :]):
            await response.write(piece)
            await asyncio.sleep(0.2)
        await response.write_eof()
        return response
    return web.Response(body=data, headers=headers)


app = web.Application(client_max_size=16 * 1024 * 1024)
app.router.add_route("*", "/{tail:.*}", echo)
web.run_app(
    app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None, auto_decompress=False
)
