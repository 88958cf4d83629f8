"""The trigger against real HTTP sources: a quirk server per matrix row, ffmpeg, stalls,
restarts, authentication."""

from __future__ import annotations

import asyncio
import datetime
import shutil

import pytest
from mjpeg_peers import (
    QUIRK_FRAMES,
    STALLS,
    Recorder,
    ffmpeg_source,
    free_port,
    quirk_server,
    running_trigger,
)
from mjpeg_quirks import VARIANTS, build_variant

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")


async def test_every_quirk_variant_over_http():
    async with quirk_server() as (base, _):
        for variant in VARIANTS:
            _, _, expected = build_variant(variant, QUIRK_FRAMES)
            recorder = Recorder()
            async with running_trigger(f"{base}/v/{variant}", recorder, reconnect_delay=30):
                await recorder.wait_for(len(expected))
            got = [e.body for e in recorder.events]
            assert got == expected, variant
            assert [e.get_field("frame_num") for e in recorder.events] == list(range(1, 13))


async def test_the_event_is_the_seeds_event():
    async with quirk_server() as (base, _):
        recorder = Recorder()
        url = f"{base}/v/extra-headers"
        async with running_trigger(url, recorder, reconnect_delay=30):
            await recorder.wait_for(12)
    event = recorder.events[2]
    assert event.body == QUIRK_FRAMES[2]
    assert event.content_type == "image/jpeg"
    assert event.get_field("frame_num") == 3
    assert event.get_field("url") == url
    assert event.url == url
    assert event.trigger.kind == "mjpeg"
    assert event.trigger.name == "cam"
    stamp = event.get_field("timestamp")
    assert isinstance(stamp, datetime.datetime)
    assert stamp.tzinfo is not None
    assert event.timestamp == stamp
    assert event.get_field("capture_timestamp") == 1700000000.2


async def test_processing_factor_keeps_every_nth_frame():
    async with quirk_server() as (base, _):
        recorder = Recorder()
        async with running_trigger(
            f"{base}/v/plain", recorder, processing_factor=5, reconnect_delay=30
        ) as _:
            await recorder.wait_for(2)
            await asyncio.sleep(0.2)
    assert [e.get_field("frame_num") for e in recorder.events] == [5, 10]


async def test_basic_auth_and_extra_headers():
    async with quirk_server() as (base, _):
        recorder = Recorder()
        async with running_trigger(
            f"{base}/auth/plain",
            recorder,
            username="cam",
            password="s3cret",
            headers={"X-Api-Key": "k1"},
            reconnect_delay=30,
        ):
            await recorder.wait_for(12)
        in_url = Recorder()
        port = base.rsplit(":", 1)[1]
        url = f"http://cam:s3cret@127.0.0.1:{port}/auth/plain"
        async with running_trigger(url, in_url, headers={"X-Api-Key": "k1"}, reconnect_delay=30):
            await in_url.wait_for(12)
        masked = f"http://cam:***@127.0.0.1:{port}/auth/plain"
        assert in_url.events[0].get_field("url") == masked
        refused = Recorder()
        async with running_trigger(f"{base}/auth/plain", refused, reconnect_delay=0.05) as trig:
            await asyncio.sleep(0.5)
            assert not trig.connected
        assert refused.events == []


async def test_a_stalled_source_is_lost_and_numbering_goes_on():
    async with quirk_server() as (base, app):
        recorder = Recorder()
        async with running_trigger(
            f"{base}/stall/3", recorder, read_timeout=0.4, reconnect_delay=0.1
        ):
            await recorder.wait_for(9, timeout=15)
        assert app[STALLS][0] >= 3
    assert [e.get_field("frame_num") for e in recorder.events][:9] == list(range(1, 10))
    assert [e.body for e in recorder.events][:6] == QUIRK_FRAMES[:3] * 2


async def test_a_source_that_sends_bytes_but_no_frames_is_lost():
    async with quirk_server() as (base, app):
        recorder = Recorder()
        async with running_trigger(
            f"{base}/junk", recorder, read_timeout=0.3, reconnect_delay=0.05
        ) as trigger:
            for _ in range(100):
                if app[STALLS][0] >= 3:
                    break
                await asyncio.sleep(0.05)
            assert app[STALLS][0] >= 3  # connected again and again
            assert trigger.metrics.reconnects.value >= 2
    assert recorder.events == []


async def test_a_source_that_is_down_at_start_is_retried():
    port = free_port()
    recorder = Recorder()
    async with running_trigger(f"http://127.0.0.1:{port}/", recorder, reconnect_delay=0.1) as trig:
        await asyncio.sleep(0.5)
        assert recorder.events == []
        assert not trig.connected


@needs_ffmpeg
@pytest.mark.parametrize("content_type", [True, False], ids=["boundary-header", "octet-stream"])
async def test_ffmpeg_source(content_type):
    port = free_port()
    recorder = Recorder()
    with ffmpeg_source(port, content_type=content_type):
        async with running_trigger(f"http://127.0.0.1:{port}/", recorder, reconnect_delay=0.1):
            await recorder.wait_for(30, timeout=15)
    for event in recorder.events[:30]:
        assert event.body.startswith(b"\xff\xd8")
        assert event.body.endswith(b"\xff\xd9")
    nums = [e.get_field("frame_num") for e in recorder.events]
    assert nums == sorted(nums)


@needs_ffmpeg
async def test_a_source_restarted_mid_stream():
    port = free_port()
    recorder = Recorder()
    async with running_trigger(f"http://127.0.0.1:{port}/", recorder, reconnect_delay=0.2) as trig:
        with ffmpeg_source(port):
            await recorder.wait_for(20, timeout=15)
        first = len(recorder.events)
        await asyncio.sleep(0.5)
        assert not trig.connected
        with ffmpeg_source(port):
            await recorder.wait_for(first + 20, timeout=15)
    nums = [e.get_field("frame_num") for e in recorder.events]
    assert nums == list(range(1, len(nums) + 1))  # numbering continued across the restart


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
async def test_https_camera_with_a_self_signed_certificate(tmp_path):
    import ssl
    import subprocess

    from aiohttp import web
    from mjpeg_peers import _variant

    await asyncio.to_thread(
        subprocess.run,
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", str(tmp_path / "key.pem"),
         "-out", str(tmp_path / "cert.pem")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    app = web.Application()
    app.router.add_get("/v/{variant}", _variant)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=context).start()
    url = f"https://127.0.0.1:{port}/v/plain"
    try:
        strict = Recorder()
        async with running_trigger(url, strict, reconnect_delay=0.1) as trigger:
            await asyncio.sleep(0.5)
            assert not trigger.connected
        assert strict.events == []
        relaxed = Recorder()
        async with running_trigger(url, relaxed, verify_tls=False, reconnect_delay=30):
            await relaxed.wait_for(12)
        assert [e.body for e in relaxed.events] == QUIRK_FRAMES
    finally:
        await runner.cleanup()
