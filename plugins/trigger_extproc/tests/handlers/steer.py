# ruff: noqa: ASYNC110, ASYNC230, ASYNC240 - a test handler: files are its side channel
"""A handler steered by the request header ``x-test`` (echoed back by the upstream).

Every call is appended as one JSON line to the file named by ``$STEER_LOG``.
"""

import asyncio
import json
import os
from pathlib import Path

from nuclio_sdk import Response


def _log(event, phase):
    with open(os.environ["STEER_LOG"], "a") as out:
        out.write(
            json.dumps(
                {
                    "phase": phase,
                    "method": event.method,
                    "path": event.path,
                    "body": event.body.decode("latin-1"),
                    "headers": {k: v.decode("latin-1") for k, v in event.headers.items()},
                    "content_type": event.content_type,
                    "trigger": event.trigger.kind,
                    "id": event.id,
                }
            )
            + "\n"
        )


async def handler(context, event):
    phase = int(event.headers["processing-phase"])
    test = (event.get_header("x-test") or b"").decode()
    _log(event, phase)
    parts = test.split(":")
    action = parts[0]
    if action == "immediate" and int(parts[1]) == phase:
        status = int(parts[2])
        headers = {"x-by": "function"}
        if len(parts) > 3 and parts[3] == "wrap":
            headers["X-Processing-Status"] = str(status)
        return Response(body=f"answered at {phase}", headers=headers, status_code=status)
    if action == "headers":
        if phase in (1, 2):
            return Response(
                headers={"x-added": "yes", "x-remove-me": None, "x-tag": ["two"]},
                status_code=200,
            )
        return Response(headers={"x-resp-added": "yes"}, status_code=200)
    if action == "raise":
        raise RuntimeError("handler failed on purpose")
    if action == "slow" and phase in (1, 2):
        Path(parts[1]).write_text("started")
        await asyncio.sleep(float(parts[2]))
        return event.body + b" - slow"
    if action == "gate":
        # Wait for a file before answering: proves the client never waits for this handler.
        while not Path(parts[1]).exists():
            await asyncio.sleep(0.02)
        return None
    if action == "upper" and phase in (2, 5):
        return event.body.upper()
    if action == "concurrent" and phase == 1:
        # Count streams in flight; release them all once parts[2] are held at once.
        counter = Path(parts[1])
        with counter.open("a") as out:
            out.write("x")
        while len(counter.read_text()) < int(parts[2]):
            await asyncio.sleep(0.02)
        return None
    return None
