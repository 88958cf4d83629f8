"""The load side's peers, one process on the load generator's CPU.

    python peers.py ws <control-port> <ws-url> <clients>   # N WebSocket clients counting messages
    python peers.py hook <control-port> <receiver-port>     # a webhook receiver counting requests

``GET http://127.0.0.1:<control-port>/count`` answers the count so far (per client for ws,
the minimum over clients).
"""

import asyncio
import sys

import aiohttp
import uvloop
from aiohttp import web

counts: list[int] = []


async def count(request: web.Request) -> web.Response:
    return web.Response(text=str(min(counts) if counts else 0))


async def client(session: aiohttp.ClientSession, url: str, index: int) -> None:
    while True:
        try:
            async with session.ws_connect(url, max_msg_size=0) as ws:
                async for _ in ws:
                    counts[index] += 1
        except aiohttp.ClientError:
            await asyncio.sleep(0.05)


async def hook(request: web.Request) -> web.Response:
    await request.read()
    counts[0] += 1
    return web.Response()


async def main() -> None:
    mode, control = sys.argv[1], int(sys.argv[2])
    app = web.Application()
    app.router.add_get("/count", count)
    tasks = []
    if mode == "ws":
        url, n = sys.argv[3], int(sys.argv[4])
        counts.extend([0] * n)
        session = aiohttp.ClientSession()
        tasks = [asyncio.create_task(client(session, url, i)) for i in range(n)]
    else:
        counts.append(0)
        receiver = web.Application()
        receiver.router.add_post("/webhook", hook)
        runner = web.AppRunner(receiver, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", int(sys.argv[3])).start()
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", control).start()
    await asyncio.Event().wait()
    del tasks


uvloop.run(main())
