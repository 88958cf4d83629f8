"""What a handler or a signal does, seen from outside a real ``dh-serverless run`` (issue 22):
a handler that exits or raises ``KeyboardInterrupt`` costs only its own request, and SIGTERM
with ``workerKind: process`` answers every request in flight."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp
import pytest
import yaml

from dh_serverless.testing.processes import HOST, RunningFunction, free_port

pytestmark = pytest.mark.timeout(120)

HANDLER = """
import sys, time

def handler(context, event):
    if event.path == "/exit":
        sys.exit(3)
    if event.path == "/interrupt":
        raise KeyboardInterrupt
    if event.path == "/sleep":
        time.sleep(float(event.get_field("s") or 2))
    return "done"
"""

ASYNC_HANDLER = """
import asyncio, sys

async def handler(context, event):
    if event.path == "/exit":
        sys.exit(3)
    if event.path == "/interrupt":
        raise KeyboardInterrupt
    if event.path == "/sleep":
        await asyncio.sleep(float(event.get_field("s") or 2))
    return "done"
"""


def write_function(folder: Path, code: str, port: int, **spec: object) -> Path:
    (folder / "main.py").write_text(code)
    config = {
        "apiVersion": "nuclio.io/v1",
        "kind": "NuclioFunction",
        "metadata": {"name": "robust"},
        "spec": {
            "handler": "main:handler",
            **spec,
            "triggers": {
                "web": {
                    "kind": "http",
                    "maxWorkers": 4,
                    "attributes": {"host": HOST, "port": port},
                }
            },
        },
    }
    path = folder / "function.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


async def get(session: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with session.get(url) as response:
        return response.status, await response.text()


@pytest.mark.parametrize(
    ("code", "kind"),
    [(HANDLER, "thread"), (ASYNC_HANDLER, "auto"), (HANDLER, "process")],
    ids=["thread", "async", "process"],
)
async def test_a_handler_that_exits_or_is_interrupted_fails_only_its_request(tmp_path, code, kind):
    port = free_port()
    path = write_function(tmp_path, code, port, workerKind=kind)
    base = f"http://{HOST}:{port}"
    async with RunningFunction(path) as function:
        await function.wait_ready(60)
        async with aiohttp.ClientSession() as session:
            unrelated = asyncio.create_task(get(session, f"{base}/sleep?s=1"))
            await asyncio.sleep(0.2)
            status, body = await get(session, f"{base}/exit")
            assert (status, body) == (500, "SystemExit: 3")
            status, body = await get(session, f"{base}/interrupt")
            assert (status, body) == (500, "KeyboardInterrupt")
            assert await unrelated == (200, "done")
            assert await get(session, f"{base}/") == (200, "done")
        assert function.proc.poll() is None, function.log()
        assert await function.terminate() == 0


@pytest.mark.parametrize("in_flight", [1, 4])
async def test_sigterm_with_process_workers_answers_every_request_in_flight(tmp_path, in_flight):
    port = free_port()
    path = write_function(tmp_path, HANDLER, port, workerKind="process")
    url = f"http://{HOST}:{port}/sleep?s=2"
    async with RunningFunction(path) as function:
        await function.wait_ready(60)
        async with aiohttp.ClientSession() as session:
            requests = [asyncio.create_task(get(session, url)) for _ in range(in_flight)]
            await asyncio.sleep(0.5)
            function.proc.send_signal(signal.SIGTERM)
            answers = await asyncio.wait_for(asyncio.gather(*requests), 10)
        assert answers == [(200, "done")] * in_flight, function.log()
        assert await function.terminate() == 0
        assert "cancelling" not in function.log()
