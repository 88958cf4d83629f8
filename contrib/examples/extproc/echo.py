"""A service to put behind Envoy: answers every request with what it received, as JSON.

python echo.py [PORT]      # default 8080, on 127.0.0.1
"""

import sys

from aiohttp import web


async def echo(request: web.Request) -> web.Response:
    body = await request.read()
    return web.json_response(
        {
            "Method": request.method,
            "Path": request.path,
            "Query": request.query_string,
            "Headers": dict(request.headers),
            "Body": body.decode("utf-8", "replace"),
        }
    )


app = web.Application()
app.router.add_route("*", "/{tail:.*}", echo)
port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)
