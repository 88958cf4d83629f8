"""The peer: a bare aiohttp WebSocket echo on /ws, on the same event loop (uvloop): every
message straight back as text, no interval, no worker, no metrics."""

import sys

import uvloop
from aiohttp import WSMsgType, web


async def ws(request: web.Request) -> web.WebSocketResponse:
    sock = web.WebSocketResponse(max_msg_size=1440000)
    await sock.prepare(request)
    async for msg in sock:
        if msg.type is WSMsgType.TEXT:
            await sock.send_str(msg.data)
        elif msg.type is WSMsgType.BINARY:
            await sock.send_str(str(len(msg.data)))
    return sock


app = web.Application()
app.router.add_get("/ws", ws)
web.run_app(
    app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None,
    loop=uvloop.new_event_loop(),
)  # fmt: skip
