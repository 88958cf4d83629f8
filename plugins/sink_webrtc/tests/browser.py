"""Headless Chromium driven over the DevTools protocol, in a network namespace of its own.

WebRTC sends media to whatever addresses ICE finds. So that a test (or the benchmark)
never sends a packet beyond loopback, the sink and Chromium run together in a fresh
network namespace whose only interface is ``lo`` (:func:`netns_command`), and Chromium
is told to offer loopback candidates (it hides them otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
UNSHARE = shutil.which("unshare")
IP = shutil.which("ip")


@functools.cache
def netns_available() -> bool:
    """Whether this process may make a network namespace (root, unshare and ip present)."""
    if UNSHARE is None or IP is None:
        return False
    probe = subprocess.run(
        [UNSHARE, "-n", IP, "link", "set", "lo", "up"], capture_output=True, timeout=10
    )
    return probe.returncode == 0


def netns_command(*argv: str) -> list[str]:
    """``argv`` run in a new network namespace holding only ``lo`` (brought up first)."""
    assert UNSHARE is not None
    assert IP is not None
    return [UNSHARE, "-n", "sh", "-c", f'"{IP}" link set lo up && exec "$@"', "sh", *argv]


def run_scenario(script: Path, *args: str, timeout: float) -> dict[str, Any]:
    """Run ``script`` (a ``__main__`` printing one JSON line last) in a namespace."""
    proc = subprocess.Popen(
        netns_command(sys.executable, str(script), *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        text=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        raise AssertionError(f"scenario timed out after {timeout}s:\n{out[-4000:]}") from None
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    assert proc.returncode == 0, f"scenario failed ({proc.returncode}):\n{out[-6000:]}"
    assert lines, f"scenario failed ({proc.returncode}):\n{out[-6000:]}"
    result: dict[str, Any] = json.loads(lines[-1])
    result["log"] = out[-6000:]
    return result


class Browser:
    """One headless Chromium process and its DevTools websocket."""

    def __init__(self, proc: asyncio.subprocess.Process, ws: Any, session: Any) -> None:
        self.proc = proc
        self._ws = ws
        self._http = session
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._targets: dict[str, str] = {}
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for message in self._ws:
            data = json.loads(message.data)
            future = self._waiting.pop(data.get("id", -1), None)
            if future is not None and not future.done():
                if "error" in data:
                    future.set_exception(RuntimeError(str(data["error"])))
                else:
                    future.set_result(data.get("result", {}))
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(ConnectionError("Chromium closed DevTools"))

    async def call(self, method: str, session: str | None = None, **params: Any) -> Any:
        """One DevTools command; its ``result``."""
        n = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._waiting[n] = future
        message: dict[str, Any] = {"id": n, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        await self._ws.send_str(json.dumps(message))
        return await asyncio.wait_for(future, 30)

    async def open(self, url: str) -> str:
        """A new window on ``url`` (each visible, so none is throttled); its session id."""
        target = await self.call("Target.createTarget", url=url, newWindow=True)
        attached = await self.call(
            "Target.attachToTarget", targetId=target["targetId"], flatten=True
        )
        session = str(attached["sessionId"])
        self._targets[session] = target["targetId"]
        return session

    async def close_tab(self, session: str) -> None:
        """Close the tab (as a user closing it: the page gets ``pagehide``)."""
        target = self._targets.pop(session, None)
        if target is not None:
            with contextlib.suppress(RuntimeError):
                await self.call("Target.closeTarget", targetId=target)

    async def evaluate(self, session: str, expression: str) -> Any:
        """The value of ``expression`` in a tab (promises awaited)."""
        result = await self.call(
            "Runtime.evaluate",
            session,
            expression=expression,
            returnByValue=True,
            awaitPromise=True,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(str(result["exceptionDetails"]))
        return result["result"].get("value")

    def kill(self) -> None:
        """Gone without a word: SIGKILL to Chromium's whole process group."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    async def close(self) -> None:
        """Stop Chromium and everything it started."""
        self._reader.cancel()
        with contextlib.suppress(Exception):
            await self._ws.close()
        await self._http.close()
        self.kill()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.proc.wait(), 10)


@contextlib.asynccontextmanager
async def chromium(*prefix: str) -> AsyncIterator[Browser]:
    """A headless Chromium that plays WebRTC over loopback; closed on exit.

    :param prefix: a command to run it under (``taskset -c 1``).
    """
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory() as profile:
        proc = await asyncio.create_subprocess_exec(
            *prefix, CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-default-apps", "--mute-audio",
            "--autoplay-policy=no-user-gesture-required",
            "--allow-loopback-in-peer-connection",
            "--disable-features=WebRtcHideLocalIpsWithMdns",
            "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
            "--disable-backgrounding-occluded-windows",
            f"--user-data-dir={profile}", "--remote-debugging-port=0",
            "--window-size=800,600", "about:blank",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        browser: Browser | None = None
        try:
            active = Path(profile) / "DevToolsActivePort"
            for _ in range(300):
                if active.exists() and len(active.read_text().splitlines()) >= 2:
                    break
                await asyncio.sleep(0.1)
            port, path = active.read_text().splitlines()[:2]
            session = aiohttp.ClientSession()
            ws = await session.ws_connect(f"ws://127.0.0.1:{port}{path}", max_msg_size=0)
            browser = Browser(proc, ws, session)
            yield browser
        finally:
            if browser is not None:
                await browser.close()
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
