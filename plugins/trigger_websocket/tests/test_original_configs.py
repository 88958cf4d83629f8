"""The original's websocket test configurations, run as written by ``dh-serverless run`` and
by ``dh-serverless-processor`` (as DH Core starts it), with handlers of our own.

As the original's ``test/websocket_stream/main.go`` does, ffmpeg writes 16 kHz mono s16le
PCM and the client forwards it in 4096-byte binary messages; the handler decodes it with
numpy and answers the tone's frequency. Only ``websocket_addr: :9001`` is replaced by a free
port on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
import websockets
import yaml

from dh_serverless.testing.processes import HOST, RunningFunction, free_port

pytestmark = pytest.mark.timeout(90)

ORIGINAL = Path(__file__).parent / "original"
PROCESSOR = Path(sys.executable).parent / "dh-serverless-processor"
FFMPEG = shutil.which("ffmpeg")

ACK_HANDLER = """
def handler(context, event):
    text = event.body.decode("utf-8")
    context.logger.info_with("Discrete event received", text=text)
    return f"ACK: {text}"
"""

TONE_HANDLER = """
import json

import numpy as np


def handler(context, event):
    pcm = np.frombuffer(event.body, dtype=np.int16).astype(np.float32) / 32768.0
    spectrum = np.abs(np.fft.rfft(pcm))
    hz = float(np.argmax(spectrum[1:]) + 1) * 16000 / len(pcm)
    return json.dumps({"bytes": len(event.body), "hz": round(hz, 1)})
"""


def processor_function(config: Path) -> RunningFunction:
    """``dh-serverless-processor --config PATH``, as DH Core starts /opt/nuclio/processor."""
    return RunningFunction(config, command=[str(PROCESSOR), "--config", str(config)])


def folder_with(tmp_path: Path, original: str, handler: str) -> tuple[Path, int]:
    """The original's YAML (port replaced) and ``test_handler.py`` in ``tmp_path``."""
    port = free_port()
    text = (ORIGINAL / original).read_text()
    assert "websocket_addr: :9001" in text
    (tmp_path / "function.yaml").write_text(
        text.replace("websocket_addr: :9001", f"websocket_addr: {HOST}:{port}")
    )
    (tmp_path / "test_handler.py").write_text(handler)
    return tmp_path / "function.yaml", port


@pytest.mark.parametrize("name", ["ws_discrete-processor.yaml", "ws_stream-processor.yaml"])
def test_dh_serverless_validate_accepts_the_original_configs_unchanged(name):
    result = subprocess.run(
        [Path(sys.executable).parent / "dh-serverless", "validate", ORIGINAL / name],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    attributes = yaml.safe_load((ORIGINAL / name).read_text())["spec"]["triggers"][
        "myWebsocketTrigger"
    ]["attributes"]
    assert attributes["websocket_addr"] == ":9001"


async def test_discrete_config_runs_as_written(tmp_path):
    config, port = folder_with(tmp_path, "ws_discrete-processor.yaml", ACK_HANDLER)
    async with RunningFunction(config) as function:
        await function.wait_ready()
        url = f"ws://{HOST}:{port}/ws"
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            await ws.send_str("state = A")
            msg = await asyncio.wait_for(ws.receive(), 10)
            assert msg.data == "ACK: state = A"
            for state in "BCD":
                await ws.send_str(f"state = {state}")
            # processing_interval: 5000 -> the latest message, about 5 s after the first
            msg = await asyncio.wait_for(ws.receive(), 15)
            assert msg.data == "ACK: state = D"
        assert await function.metric("dh_websocket_trigger_events_total") == 2
        assert await function.terminate() == 0
        assert "Discrete event received" in function.log()


async def forward_tone(url: str, seconds: int, pause_at: int) -> list[dict[str, float]]:
    """ffmpeg's PCM to the trigger in messages of at most 4096 bytes, pausing a second once
    ``pause_at`` bytes were sent, then the rest in one message (so the last window cannot be
    taken half-arrived on a loaded machine); the answers, up to one for the whole stream."""
    proc = await asyncio.create_subprocess_exec(
        FFMPEG, "-loglevel", "error", "-f", "lavfi",
        "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
        "-f", "s16le", "-acodec", "pcm_s16le", "-ac", "1", "-ar", "16000", "pipe:1",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    total = seconds * 16000 * 2
    answers: list[dict[str, float]] = []
    assert proc.stdout is not None
    try:
        async with websockets.connect(url) as ws:

            async def read() -> None:
                async for message in ws:
                    answers.append(json.loads(message))
                    if answers[-1]["bytes"] == total - 1120000:
                        return

            reader = asyncio.create_task(read())
            sent = 0
            tail = bytearray()
            while chunk := await proc.stdout.read(4096):
                if sent < pause_at <= sent + len(chunk):
                    cut = pause_at - sent
                    await ws.send(chunk[:cut])
                    await asyncio.sleep(1)
                    chunk = chunk[cut:]
                    sent += cut
                if sent >= pause_at:  # the tail in one message: one window, however slow
                    tail += chunk
                elif chunk:
                    await ws.send(chunk)
                sent += len(chunk)
            await ws.send(bytes(tail))
            assert sent == total
            await asyncio.wait_for(reader, 15)
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
    return answers


@pytest.mark.skipif(FFMPEG is None, reason="needs ffmpeg")
@pytest.mark.parametrize("command", ["run", "processor"])
async def test_stream_config_runs_as_written_with_ffmpeg_audio(tmp_path, command):
    config, port = folder_with(tmp_path, "ws_stream-processor.yaml", TONE_HANDLER)
    if command == "processor":
        function: RunningFunction = processor_function(config.rename(tmp_path / "processor.yaml"))
    else:
        function = RunningFunction(config)
    async with function:
        await function.wait_ready()
        # 55 s of audio, the last 5 s (chunk_bytes) after a pause: whatever the timing,
        # the buffer overflowed once (1440000) and lost trim_bytes (1120000) from the front,
        # so the last window is the whole stream less 1120000 bytes.
        total = 55 * 16000 * 2
        answers = await forward_tone(f"ws://{HOST}:{port}/ws", 55, pause_at=total - 160000)
        assert await function.metric("dh_websocket_trigger_received_bytes_total") == total
        assert answers[-1]["bytes"] == total - 1120000, answers
        assert len(answers) >= 2, answers
        assert all(abs(a["hz"] - 440) < 1 for a in answers), answers
        assert all(a["bytes"] % 2 == 0 and a["bytes"] <= 1440000 for a in answers), answers
        assert await function.terminate() == 0
