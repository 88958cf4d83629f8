"""The RTSP dialogue, status codes and bad input, with a hand-driven client."""

from __future__ import annotations

import asyncio
import datetime
import itertools
import os
import socket
import threading
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rtsp_helpers import RawClient, jpeg, make_sink, serving, wait_until

from dh_serverless.hookspecs import Event, Response
from dh_serverless.sinks.rtsp import server as server_module

TCP = "RTP/AVP/TCP;unicast;interleaved=0-1"


async def test_options_describe_setup_play_teardown():
    async with serving() as (sink, _):
        client = await RawClient.connect(sink.port)
        url = f"rtsp://127.0.0.1:{sink.port}/stream"
        options = await client.request("OPTIONS", url)
        assert options.status == 200
        assert "DESCRIBE" in options.headers["public"]
        assert "GET_PARAMETER" in options.headers["public"]
        describe = await client.request("DESCRIBE", url, Accept="application/sdp")
        assert describe.status == 200
        assert describe.headers["content-type"] == "application/sdp"
        assert describe.headers["content-base"] == url + "/"
        sdp = describe.body.decode()
        assert "m=video 0 RTP/AVP 96" in sdp
        assert "sprop-parameter-sets=Z" in sdp  # base64 of an SPS starts with "Z" (0x67)
        assert "a=control:trackID=0" in sdp
        setup = await client.request("SETUP", url + "/trackID=0", Transport=TCP)
        assert setup.status == 200
        assert setup.headers["transport"] == TCP
        session = setup.headers["session"].split(";")[0]
        assert setup.headers["session"].endswith(";timeout=60")
        play = await client.request("PLAY", url + "/", Session=session)
        assert play.status == 200
        assert play.headers["rtp-info"].startswith(f"url={url}/trackID=0;seq=")
        channel, packet = await client.read_frame()
        assert channel == 0
        assert packet[1] & 0x7F == 96
        keep = await client.request("GET_PARAMETER", url + "/", Session=session)
        assert keep.status == 200
        bye = await client.request("TEARDOWN", url + "/", Session=session)
        assert bye.status == 200
        assert sink.server.sessions == {}
        await client.close()


async def test_error_statuses():
    async with serving() as (sink, _):
        client = await RawClient.connect(sink.port)
        base = f"rtsp://127.0.0.1:{sink.port}"
        url = base + "/stream"
        assert (await client.request("DESCRIBE", base + "/other")).status == 404
        assert (
            await client.request("SETUP", base + "/other/trackID=0", Transport=TCP)
        ).status == 404
        assert (await client.request("PLAY", url)).status == 455
        assert (await client.request("PLAY", url, Session="nosuchsession")).status == 454
        assert (await client.request("TEARDOWN", url, Session="nosuchsession")).status == 454
        multicast = "RTP/AVP;multicast;destination=224.2.0.1"
        assert (await client.request("SETUP", url, Transport=multicast)).status == 461
        assert (await client.request("SETUP", url, Transport="RTP/SAVP;unicast")).status == 461
        assert (await client.request("SETUP", url)).status == 461
        assert (await client.request("ANNOUNCE", url)).status == 405
        assert (await client.request("FLY", url)).status == 501
        assert (await client.request("DESCRIBE", "rtsp://[::1/stream")).status == 404
        assert (await client.request("GET_PARAMETER", "*")).status == 200
        setup = await client.request("SETUP", url, Transport=TCP)
        session = setup.headers["session"].split(";")[0]
        assert (await client.request("PLAY", url, Session=session)).status == 200
        again = await client.request("SETUP", url, Transport=TCP, Session=session)
        assert again.status == 455
        await client.close()


async def test_garbage_gets_400_and_the_server_keeps_serving():
    async with serving() as (sink, _):
        for garbage in (b"\x00\x01\x02garbage\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                        os.urandom(20000)):  # fmt: skip
            reader, writer = await asyncio.open_connection("127.0.0.1", sink.port)
            writer.write(garbage)
            answer = await asyncio.wait_for(reader.read(), 10)  # then the server closes
            assert answer.startswith(b"RTSP/1.0 400 Bad Request\r\n"), answer[:60]
            writer.close()
        client = await RawClient.connect(sink.port)
        assert (await client.request("OPTIONS", "*")).status == 200
        await client.close()


@pytest.fixture(scope="module")
def sink_in_a_thread():
    """A fed sink on its own event loop in a thread, for the synchronous fuzz test."""
    started = threading.Event()
    stop: list[asyncio.Event] = []
    ports: list[int] = []

    async def main():
        async with serving(fps=10) as (sink, _):
            stop.append(asyncio.Event())
            ports.append(sink.port)
            started.set()
            await stop[0].wait()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(10)
    yield ports[0]
    loop.call_soon_threadsafe(stop[0].set)
    thread.join(10)
    loop.close()


def _options_ok(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), 5) as sock:
        sock.sendall(b"OPTIONS * RTSP/1.0\r\nCSeq: 9\r\n\r\n")
        return sock.recv(100).startswith(b"RTSP/1.0 200 OK\r\nCSeq: 9\r\n")


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(chunks=st.lists(st.binary(min_size=1, max_size=400), min_size=1, max_size=4))
def test_fuzz_the_port(sink_in_a_thread, chunks):
    answer = b""
    with socket.create_connection(("127.0.0.1", sink_in_a_thread), 5) as sock:
        sock.settimeout(10)
        try:  # the server may answer 400 and close before everything is sent
            for chunk in chunks:
                sock.sendall(chunk)
            sock.shutdown(socket.SHUT_WR)
            while data := sock.recv(65536):
                answer += data
        except OSError:  # broken pipe, reset, not connected: the server hung up
            pass
    assert answer == b"" or answer.startswith(b"RTSP/1.0 ")
    assert _options_ok(sink_in_a_thread)


_METHODS = ("OPTIONS", "DESCRIBE", "SETUP", "PLAY", "PAUSE", "TEARDOWN", "GET_PARAMETER",
            "SET_PARAMETER", "RECORD", "Play")  # fmt: skip
_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=60)
_TRANSPORTS = st.one_of(
    _TEXT,
    st.builds(
        "{};{};{}={}".format,
        st.sampled_from(["RTP/AVP", "RTP/AVP/UDP", "RTP/AVP/TCP", "rtp/avp/tcp", "RAW/RAW/UDP"]),
        st.sampled_from(["unicast", "multicast", ""]),
        st.sampled_from(["client_port", "interleaved", "destination", "port"]),
        st.from_regex(r"[0-9]{0,6}(-[0-9]{0,6})?", fullmatch=True),
    ),
)


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    method=st.sampled_from(_METHODS),
    path=st.sampled_from(
        ["/stream", "/stream/", "/stream/trackID=0", "/other", "*", "", "rtsp://[x/stream"]
    ),
    transport=_TRANSPORTS,
    session=st.one_of(st.none(), _TEXT),
    authorization=st.one_of(st.none(), _TEXT),
)
def test_fuzz_requests_never_get_a_500(
    sink_in_a_thread, method, path, transport, session, authorization
):
    port = sink_in_a_thread
    uri = path if path in ("*", "") or "[" in path else f"rtsp://127.0.0.1:{port}{path}"
    lines = [f"{method} {uri} RTSP/1.0", "CSeq: 5", f"Transport: {transport}"]
    if session is not None:
        lines.append(f"Session: {session}")
    if authorization is not None:
        lines.append(f"Authorization: {authorization}")
    with socket.create_connection(("127.0.0.1", port), 5) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        sock.settimeout(15)
        answer = sock.recv(65536)
    assert answer.startswith(b"RTSP/1.0 "), answer[:80]
    status = int(answer.split(b" ", 2)[1])
    assert status != 500
    assert status in (200, 400, 404, 405, 454, 455, 461, 501, 503)
    assert _options_ok(port)


async def test_no_encoding_while_nobody_watches():
    async with serving() as (sink, feeder):
        assert await wait_until(lambda: feeder.sent >= 15)
        assert sink.codec.width == 0  # the encoder was never opened
        client = await RawClient.connect(sink.port)
        url = f"rtsp://127.0.0.1:{sink.port}/stream"
        setup = await client.request("SETUP", url, Transport=TCP)
        session = setup.headers["session"].split(";")[0]
        await client.request("PLAY", url, Session=session)
        await client.read_frame()
        assert sink.codec.width == 640
        await client.close()
        await asyncio.sleep(0.2)
        assert sink.server.playing == []


async def test_a_viewer_that_lags_is_dropped_to_the_next_keyframe():
    rng = np.random.default_rng(1)
    noise = [rng.integers(0, 256, (240, 320, 3), np.uint8) for _ in range(10)]  # ~100 KB frames
    async with serving(noise, max_lag_bytes=16 * 1024) as (sink, _):
        url = f"rtsp://127.0.0.1:{sink.port}/stream"
        slow = await RawClient.connect(sink.port, limit=2**14)  # reads at most 32 KB ahead
        setup = await slow.request("SETUP", url, Transport=TCP)
        session = setup.headers["session"].split(";")[0]
        await slow.request("PLAY", url, Session=session)
        viewer = sink.server.sessions[session]
        # Not reading: the client's buffer, both kernels' buffers, then the server's fill.
        assert await wait_until(lambda: viewer.dropped > 0)
        assert viewer.lagging
        families = sink.spec.metrics.families
        per_viewer = families["dh_rtsp_viewer_dropped_packets"].cells[("camera", session)]
        total = families["dh_rtsp_dropped_packets"].cells[("camera",)]
        assert per_viewer.value > 0
        assert total.value >= per_viewer.value
        packets = []
        until = asyncio.get_running_loop().time() + 3
        while asyncio.get_running_loop().time() < until:
            packets.append((await slow.read_frame())[1])
        gaps = 0
        for before, after in itertools.pairwise(packets):
            seq_before = int.from_bytes(before[2:4], "big")
            if int.from_bytes(after[2:4], "big") != (seq_before + 1) & 0xFFFF:
                gaps += 1
                assert after[12] & 0x1F == 7, "after a skip, the viewer resumes on a keyframe (SPS)"
                assert before[1] & 0x80, "a skip happens between frames, never inside one"
        assert gaps >= 1
        await slow.close()
        assert await wait_until(lambda: sink.server.sessions == {})
        assert ("camera", session) not in families["dh_rtsp_viewer_dropped_packets"].cells
        assert total.value > 0


async def test_a_silent_udp_viewer_expires():
    async with serving(session_timeout=2) as (sink, _):
        url = f"rtsp://127.0.0.1:{sink.port}/stream"
        client = await RawClient.connect(sink.port)
        setup = await client.request("SETUP", url, Transport="RTP/AVP;unicast;client_port=9-10")
        assert setup.status == 200
        assert "server_port=" in setup.headers["transport"]
        session = setup.headers["session"].split(";")[0]
        await client.request("PLAY", url, Session=session)
        assert len(sink.server.playing) == 1
        await asyncio.sleep(3.5)  # no RTCP report, no request: the session ends
        assert sink.server.playing == []
        assert sink.server.sessions == {}
        assert await asyncio.wait_for(client.reader.read(), 5) == b""  # idle: closed too
        await client.close()


async def test_a_vanished_tcp_viewer_is_cleaned_up():
    async with serving() as (sink, _):
        url = f"rtsp://127.0.0.1:{sink.port}/stream"
        client = await RawClient.connect(sink.port)
        setup = await client.request("SETUP", url, Transport=TCP)
        session = setup.headers["session"].split(";")[0]
        await client.request("PLAY", url, Session=session)
        await client.read_frame()
        client.writer.transport.abort()  # reset, no TEARDOWN
        await asyncio.sleep(0.5)
        assert sink.server.playing == []
        assert sink.server.sessions == {}


async def test_encoding_runs_off_the_event_loop():
    rng = np.random.default_rng(2)
    big = jpeg(rng.integers(0, 256, (1080, 1920, 3), np.uint8), quality=95)
    async with serving() as (sink, feeder):
        await feeder.stop()
        client = await RawClient.connect(sink.port)
        setup = await client.request("SETUP", sink.url, Transport=TCP)
        session = setup.headers["session"].split(";")[0]
        await client.request("PLAY", sink.url, Session=session)
        emitting = asyncio.ensure_future(sink.emit(Response(body=big), Event()))
        turns = 0
        while not emitting.done():  # the loop keeps turning while the frame is encoded
            turns += 1
            await asyncio.sleep(0)
        await emitting
        assert turns > 1
        assert sink.codec.width == 1920
        await client.close()


async def test_rtcp_sender_reports_map_rtp_time_to_wall_clock(monkeypatch):
    monkeypatch.setattr(server_module, "_REPORT_EVERY", 0.3)
    async with serving() as (sink, _):
        client = await RawClient.connect(sink.port)
        setup = await client.request("SETUP", sink.url, Transport=TCP)
        session = setup.headers["session"].split(";")[0]
        await client.request("PLAY", sink.url, Session=session)
        last_rtp = None
        for _ in range(2000):
            channel, packet = await client.read_frame()
            if channel == 0:
                last_rtp = int.from_bytes(packet[4:8], "big")
                ssrc = int.from_bytes(packet[8:12], "big")
            elif channel == 1:
                break
        assert channel == 1
        assert packet[1] == 200  # sender report
        assert int.from_bytes(packet[4:8], "big") == ssrc
        ntp_seconds = int.from_bytes(packet[8:12], "big") - 2_208_988_800
        assert abs(ntp_seconds - time.time()) < 5
        report_rtp = int.from_bytes(packet[16:20], "big")
        assert 0 <= (report_rtp - last_rtp) % 2**32 < 90_000  # within a second of the last frame
        assert int.from_bytes(packet[20:24], "big") > 0  # packets sent to this viewer
        await client.close()


async def test_timestamps_follow_the_event_times_even_from_a_clock_that_is_off():
    camera = datetime.datetime(2001, 1, 1, tzinfo=datetime.UTC)  # a camera years behind
    sink = make_sink()
    stamps = []
    for index in (0, 1, 2, 40):  # 40 ms apart, then a gap of 1.52 s
        event = Event(timestamp=camera + datetime.timedelta(milliseconds=40 * index))
        stamps.append(sink._pts(event))
    assert [b - a for a, b in itertools.pairwise(stamps)] == [3600, 3600, 136800]
    later = sink._pts(Event(timestamp=datetime.datetime.now(datetime.UTC)))  # the clock jumps
    assert later > stamps[-1]


async def test_max_viewers_holds_under_concurrent_udp_setups():
    """40 SETUPs at once for 16 places: 16 sessions, 24 answers 503 (issue 22)."""
    async with serving(max_viewers=16) as (sink, _):
        url = f"rtsp://127.0.0.1:{sink.port}/stream/trackID=0"
        clients = [await RawClient.connect(sink.port) for _ in range(40)]
        try:
            answers = await asyncio.gather(
                *(
                    c.request("SETUP", url, Transport=f"RTP/AVP;unicast;client_port={p}-{p + 1}")
                    for c, p in zip(clients, range(40000, 40080, 2), strict=True)
                )
            )
            statuses = sorted(a.status for a in answers)
            assert statuses == [200] * 16 + [503] * 24
            assert len(sink.server.sessions) == 16
            assert sink.server.setting_up == 0
        finally:
            for client in clients:
                await client.close()
