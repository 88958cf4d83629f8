"""The bare aiohttp peers of the two sinks, on the same event loop (uvloop).

    python bare.py ws <port>                 # POST / is broadcast to WebSocket clients of /stream
    python bare.py hook <port> <hook-url>    # POST / is forwarded to a webhook URL

Both keep what the sinks keep: a bounded drop-oldest queue (8 per WebSocket client; 64
in front of 4 webhook senders), and answer the POST at once with the body.
"""

import asyncio
import sys
from collections import deque

import aiohttp
import uvloop
from aiohttp import web

clients: set["Client"] = set()
pending: deque[bytes] = deque(maxlen=64)
ready = asyncio.Event()


class Client:
    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.items: deque[bytes] = deque(maxlen=8)
        self.ready = asyncio.Event()

    async def run(self) -> None:
        while not self.ws.closed:
            await self.ready.wait()
            self.ready.clear()
            while self.items:
                await self.ws.send_bytes(self.items.popleft())


async def post_ws(request: web.Request) -> web.Response:
    body = await request.read()
    for c in clients:
        c.items.append(body)
        c.ready.set()
    return web.Response(body=body, content_type="image/jpeg")


async def stream(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    c = Client(ws)
    clients.add(c)
    task = asyncio.create_task(c.run())
    async for _ in ws:
        pass
    clients.discard(c)
    task.cancel()
    return ws


async def post_hook(request: web.Request) -> web.Response:
    body = await request.read()
    pending.append(body)
    ready.set()
    return web.Response(body=body, content_type="image/jpeg")


async def sender(session: aiohttp.ClientSession, url: str) -> None:
    while True:
        await ready.wait()
        while pending:
            body = pending.popleft()
            async with session.post(url, data=body, headers={"Content-Type": "image/jpeg"}) as r:
                await r.read()
        ready.clear()


async def start_senders(app: web.Application) -> None:
    session = aiohttp.ClientSession()
    app["senders"] = [asyncio.create_task(sender(session, sys.argv[3])) for _ in range(4)]


app = web.Application()
if sys.argv[1] == "ws":
    app.router.add_post("/", post_ws)
    app.router.add_get("/stream", stream)
else:
    app.router.add_post("/", post_hook)
    app.on_startup.append(start_senders)
web.run_app(
    app, host="127.0.0.1", port=int(sys.argv[2]), access_log=None, print=None,
    loop=uvloop.new_event_loop(),
)  # fmt: skip
