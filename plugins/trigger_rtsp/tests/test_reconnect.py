"""A camera that goes away, comes back, stalls or never answers: the trigger reconnects with
back-off, counts it, and frames flow again."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from rtsp_peers import Recorder, eventually, free_port, gst_server, needs_gst, running_trigger

pytestmark = [pytest.mark.timeout(120)]


@needs_gst
async def test_server_killed_and_restarted_frames_flow_again():
    port = free_port()
    recorder = Recorder()
    with gst_server("--video", "h264", "--fps", "15", port=port) as server:
        async with running_trigger(
            server.url(), recorder, media_type="video", processing_interval=0, read_timeout=2
        ) as trigger:
            await recorder.wait_for(5)
            assert trigger.connected
            server.stop()
            await eventually(lambda: not trigger.connected, 10, "the loss to be noticed")
            assert trigger.metrics.reconnects.value >= 1
            await asyncio.sleep(0.3)  # a frame being converted when the server went away
            before = len(recorder.events)
            await asyncio.sleep(1.0)  # a few refused attempts, with back-off
            assert len(recorder.events) == before
            server.start()
            await recorder.wait_for(before + 5, timeout=30)
            assert trigger.connected
            nums = [e.get_field("frame_num") for e in recorder.events]
            assert nums == sorted(nums)  # numbering goes on across the reconnect


@needs_gst
async def test_audio_goes_on_after_a_restart():
    port = free_port()
    recorder = Recorder()
    args = ("--video", "none", "--audio", "l16", "--freq", "440")
    with gst_server(*args, port=port) as server:
        async with running_trigger(
            server.url(), recorder, processing_interval=0, chunk_bytes=8000, read_timeout=2
        ) as trigger:
            await recorder.wait_for(2)
            server.stop()
            await eventually(lambda: not trigger.connected, 10, "the loss to be noticed")
            before = len(recorder.events)
            server.start()
            await recorder.wait_for(before + 2, timeout=30)


@needs_gst
@pytest.mark.parametrize("transport", ["tcp", "udp"])
async def test_a_stalled_stream_is_detected_counted_and_recovered(transport):
    recorder = Recorder()
    with gst_server("--video", "h264", "--fps", "15") as server:
        async with running_trigger(
            server.url(), recorder, media_type="video", processing_interval=0, read_timeout=1.5,
            transport=transport,
        ) as trigger:  # fmt: skip
            await recorder.wait_for(3)
            server.pause()  # the TCP connection stays open; nothing more arrives
            try:
                await eventually(lambda: trigger.metrics.stalls.value >= 1, 15, "a stall")
                assert trigger.metrics.reconnects.value >= 1
            finally:
                server.resume()
            before = len(recorder.events)
            await recorder.wait_for(before + 3, timeout=30)


async def test_a_server_that_never_answers_times_out_and_is_retried():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # accepts connections in the backlog, never speaks
        port = listener.getsockname()[1]
        recorder = Recorder()
        started = time.monotonic()
        async with running_trigger(
            f"rtsp://127.0.0.1:{port}/x", recorder, media_type="video",
            connect_timeout=0.5, read_timeout=0.5, reconnect_delay=0.1,
        ) as trigger:  # fmt: skip
            await eventually(lambda: trigger.metrics.reconnects.value >= 2, 15, "two retries")
        assert time.monotonic() - started < 15
        assert not trigger.connected
        assert recorder.events == []


async def test_refused_connections_back_off():
    port = free_port()  # nothing listens
    recorder = Recorder()
    async with running_trigger(
        f"rtsp://127.0.0.1:{port}/x", recorder, reconnect_delay=0.2, max_reconnect_delay=0.8
    ) as trigger:
        await asyncio.sleep(2.5)
        # 0.2 + 0.4 + 0.8 + 0.8 ... : at most 5 attempts in 2.5 s, never a busy loop
        assert 2 <= trigger.metrics.reconnects.value <= 6
    assert recorder.events == []


@needs_gst
async def test_stop_returns_promptly_while_reading():
    recorder = Recorder()
    with gst_server("--video", "h264") as server:
        async with running_trigger(
            server.url(), recorder, media_type="video", processing_interval=0
        ) as trigger:
            await recorder.wait_for(2)
            started = time.monotonic()
        assert time.monotonic() - started < 3
        assert not trigger.connected


@needs_gst
async def test_a_stream_without_the_wanted_media_is_retried_with_a_clear_reason(caplog):
    recorder = Recorder()
    with gst_server("--video", "h264") as server:  # no audio track
        async with running_trigger(server.url(), recorder, reconnect_delay=0.1) as trigger:
            await eventually(lambda: trigger.metrics.reconnects.value >= 2, 20, "two retries")
    assert recorder.events == []
    lost = [r.getMessage() for r in caplog.records if "lost" in r.getMessage()]
    assert lost, caplog.text
    assert any("audio" in line for line in lost), lost


async def test_stop_does_not_wait_for_a_hanging_connection_attempt():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # never answers DESCRIBE
        port = listener.getsockname()[1]
        recorder = Recorder()
        async with running_trigger(
            f"rtsp://127.0.0.1:{port}/x", recorder, connect_timeout=30, read_timeout=30
        ) as trigger:
            await asyncio.sleep(0.5)
            started = time.monotonic()
        assert time.monotonic() - started < 4
        assert not trigger.connected
