"""The webrtc sink with real WHEP viewers (aiortc peers decoding what arrives).

Every peer here gathers ICE candidates on 127.0.0.1 only (the sink by ``host``, the
viewers by ``gather_on``), so no media leaves loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import AsyncIterator

import aiohttp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from whep_client import feed, jpeg, picture, post_offer, whep_viewer

from dh_serverless.core.api import UserError
from dh_serverless.hookspecs import Response, SinkSpec
from dh_serverless.sinks.webrtc import IceServer, WebRtcSink, WebRtcSinkAttributes

JPEGS = [jpeg(i) for i in range(30)]


@contextlib.asynccontextmanager
async def running_sink(**attributes) -> AsyncIterator[WebRtcSink]:
    attributes.setdefault("port", 0)
    attributes.setdefault("host", "127.0.0.1")
    sink = WebRtcSink(SinkSpec("webrtc", "cam", WebRtcSinkAttributes(**attributes)))
    await sink.start()
    try:
        yield sink
    finally:
        await sink.stop()


@contextlib.asynccontextmanager
async def feeding(sink: WebRtcSink, bodies=JPEGS, fps: float = 30) -> AsyncIterator[None]:
    task = asyncio.ensure_future(feed(sink, bodies, fps))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def whep(sink: WebRtcSink) -> str:
    return f"http://127.0.0.1:{sink.port}{sink.attributes.path}/whep"


def metric(sink: WebRtcSink, name: str, *labels: str) -> float:
    m = sink.spec.metrics
    if name == "dh_webrtc_sessions":
        return m.counter(name, "", ("trigger", "outcome")).labels("cam", *labels).value
    if name in ("dh_webrtc_frames_skipped", "dh_webrtc_sessions_closed"):
        return m.counter(name, "", ("trigger", "reason")).labels("cam", *labels).value
    if name == "dh_webrtc_frames_encoded":
        return m.counter(name, "", ("trigger", "codec")).labels("cam", *labels).value
    return m.counter(name, "", ("trigger",)).labels("cam").value


@pytest.mark.parametrize("codec", ["h264", "vp8"])
async def test_a_whep_viewer_decodes_frames_of_the_sources_size(codec):
    async with running_sink(codec=codec) as sink, feeding(sink):
        async with whep_viewer(whep(sink)) as viewer:
            assert viewer.location.startswith("/processed/whep/")
            frames = await viewer.frames(20)
            assert sink.viewers == 1
            answer = viewer.pc.remoteDescription.sdp
            names = set(re.findall(r"a=rtpmap:\d+ (\w+)/", answer)) - {"rtx"}
            assert {n.lower() for n in names} == {codec}
        for frame in frames:
            assert (frame.width, frame.height) == (320, 240)
        # the picture came through: a gradient across the width in red
        rgb = frames[-1].to_ndarray(format="rgb24").astype(int)
        assert rgb[:, :, 0].std() > 30
        assert metric(sink, "dh_webrtc_frames_encoded", codec) >= 20


async def test_arrays_are_frames_too():
    arrays = [picture(i, 640, 480) for i in range(10)]
    async with running_sink() as sink, feeding(sink, arrays), whep_viewer(whep(sink)) as viewer:
        frames = await viewer.frames(10)
    assert {(f.width, f.height) for f in frames} == {(640, 480)}


async def test_three_viewers_share_one_encode_per_frame():
    async with running_sink() as sink:
        async with (
            whep_viewer(whep(sink)) as a,
            whep_viewer(whep(sink)) as b,
            whep_viewer(whep(sink)) as c,
        ):
            assert sink.viewers == 3
            reading = [asyncio.ensure_future(v.frames(40)) for v in (a, b, c)]
            before = metric(sink, "dh_webrtc_frames_encoded", "h264")
            emitted = 0
            while not all(r.done() for r in reading) and emitted < 600:
                emitted += await feed(sink, JPEGS, 30, count=10)
            encoded = metric(sink, "dh_webrtc_frames_encoded", "h264") - before
            got = await asyncio.gather(*reading)
        assert encoded == emitted  # once per frame, not once per viewer
        assert all(len(frames) == 40 for frames in got)
        sent = metric(sink, "dh_webrtc_frames_sent")
        assert 3 * 40 <= sent <= 3 * emitted


async def test_delete_ends_the_session_and_others_play_on():
    async with (
        running_sink() as sink,
        feeding(sink),
        whep_viewer(whep(sink)) as stays,
        whep_viewer(whep(sink)) as leaves,
    ):
        await leaves.frames(3)
        url = f"http://127.0.0.1:{sink.port}{leaves.location}"
        async with aiohttp.ClientSession() as http:
            async with http.delete(url) as r:
                assert r.status == 200
            assert sink.viewers == 1
            async with http.delete(url) as r:
                assert r.status == 404
        assert len(await stays.frames(10)) == 10
        assert metric(sink, "dh_webrtc_sessions_closed", "deleted") == 1


BAD_OFFERS = [
    "",
    "hello",
    "v=0\r\n",
    "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n",
    "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 H264/90000\r\n",
]


@pytest.mark.parametrize("offer", BAD_OFFERS)
async def test_a_bad_offer_gets_400_and_the_viewer_playing_goes_on(offer):
    async with running_sink() as sink, feeding(sink), whep_viewer(whep(sink)) as viewer:
        await viewer.frames(3)
        status, body, headers = await post_offer(whep(sink), offer)
        assert status == 400, body
        assert body.strip()
        assert headers["Access-Control-Allow-Origin"] == "*"
        assert sink.viewers == 1
        assert len(await viewer.frames(10)) == 10
        assert metric(sink, "dh_webrtc_sessions", "bad_offer") == 1


async def test_an_offer_without_the_sinks_codec_is_a_clear_400():
    async with running_sink(codec="h264") as sink:
        with pytest.raises(AssertionError, match=r"400.*no H264 this sink can send"):
            async with whep_viewer(whep(sink), codecs="video/VP8"):
                pass
        assert sink.viewers == 0


async def test_wrong_content_type_is_415_and_a_huge_offer_413():
    async with running_sink() as sink:
        status, body, _ = await post_offer(whep(sink), "v=0", content_type="text/plain")
        assert status == 415
        assert "application/sdp" in body
        status, _, headers = await post_offer(whep(sink), "v=0\r\n" + "a=x\r\n" * 20000)
        assert status == 413
        assert headers["Access-Control-Allow-Origin"] == "*"
        assert sink.viewers == 0


async def test_a_full_house_gets_503_and_the_viewer_playing_goes_on():
    async with running_sink(max_viewers=1) as sink, feeding(sink), whep_viewer(whep(sink)) as one:
        await one.frames(3)
        with pytest.raises(AssertionError, match="503"):
            async with whep_viewer(whep(sink)):
                pass
        status, body, headers = await post_offer(whep(sink), "v=0\r\n")
        assert status == 503
        assert "maxViewers=1" in body
        assert headers["Retry-After"] == "5"
        assert len(await one.frames(10)) == 10
        assert sink.viewers == 1
    assert metric(sink, "dh_webrtc_sessions", "full") == 2


async def test_options_answers_cors_and_announces_the_ice_servers():
    servers = (
        IceServer("stun:stun.example.org:3478"),
        IceServer(["turn:turn.example.org:3478?transport=udp"], "viewer", "secret"),
    )
    async with (
        running_sink(ice_servers=servers, allow_origin="https://app.example") as sink,
        aiohttp.ClientSession() as http,
    ):
        async with http.options(
            whep(sink),
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
        ) as r:
            assert r.status == 204
            h = r.headers
            assert h["Access-Control-Allow-Origin"] == "https://app.example"
            assert "POST" in h["Access-Control-Allow-Methods"]
            assert "Content-Type" in h["Access-Control-Allow-Headers"]
            assert "Location" in h["Access-Control-Expose-Headers"]
            assert h["Accept-Post"] == "application/sdp"
            assert h.getall("Link") == [
                '<stun:stun.example.org:3478>; rel="ice-server"',
                '<turn:turn.example.org:3478?transport=udp>; rel="ice-server"; '
                'username="viewer"; credential="secret"; credential-type="password"',
            ]
        async with http.patch(f"{whep(sink)}/nope") as r:
            assert r.status == 405


async def test_the_viewer_page_and_its_stats():
    async with running_sink() as sink, feeding(sink), whep_viewer(whep(sink)) as viewer:
        await viewer.frames(5)
        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{sink.port}"
            async with http.get(f"{base}/processed/") as r:
                page = await r.text()
                assert r.headers["Content-Type"].startswith("text/html")
            async with http.get(f"{base}/processed", allow_redirects=False) as r:
                assert r.status == 302
                assert r.headers["Location"] == "/processed/"
            async with http.get(f"{base}/processed/stats") as r:
                stats = await r.json()
    assert 'new URL("whep", location.href)' in page
    assert "<script src" not in page  # nothing fetched from elsewhere
    assert stats["viewers"] == 1
    assert (stats["width"], stats["height"], stats["codec"]) == (320, 240, "h264")
    assert 0 <= stats["age_ms"] < 1000


async def test_a_viewer_whose_ice_never_connects_is_closed_in_time():
    async with running_sink(viewer_timeout=1.0) as sink:
        # a browser's offer for a peer that never answers ICE checks
        from aiortc import RTCConfiguration, RTCPeerConnection

        from dh_serverless.sinks.webrtc.ice import gather_on

        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTransceiver("video", direction="recvonly")
        with gather_on(["127.0.0.1"]):
            await pc.setLocalDescription(await pc.createOffer())
        offer = pc.localDescription.sdp
        await pc.close()  # its sockets are gone: nobody answers at the candidate
        status, _, _ = await post_offer(whep(sink), offer)
        assert status == 201
        assert sink.viewers == 1
        for _ in range(60):
            if sink.viewers == 0:
                break
            await asyncio.sleep(0.1)
        assert sink.viewers == 0
        assert metric(sink, "dh_webrtc_sessions_closed", "failed") == 1


async def test_non_frames_are_counted_and_skipped():
    async with running_sink() as sink, whep_viewer(whep(sink)) as viewer:
        await sink.emit(Response(body=b'{"objects": 3}'), __import__("whep_client").event(1))
        await sink.emit(
            Response(body=np.zeros((4, 4), np.uint8)), __import__("whep_client").event(2)
        )
        assert metric(sink, "dh_webrtc_frames_skipped", "not_frame") == 2
        task = asyncio.ensure_future(feed(sink, JPEGS, 30, count=30))
        assert len(await viewer.frames(5)) == 5
        await task


async def test_nothing_is_encoded_without_viewers():
    async with running_sink() as sink:
        await feed(sink, JPEGS, 100, count=10)
        assert metric(sink, "dh_webrtc_frames_encoded", "h264") == 0


async def test_a_port_in_use_is_a_clear_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        sink = WebRtcSink(
            SinkSpec("webrtc", "cam", WebRtcSinkAttributes(port=port, host="127.0.0.1"))
        )
        with pytest.raises(UserError, match=f"webrtc sink cannot listen on 127.0.0.1:{port}"):
            await sink.start()


@pytest.fixture(scope="module")
async def shared_sink():
    async with running_sink() as sink:
        yield sink


SDP_LINES = st.sampled_from(
    [
        "v=0",
        "o=- 1 1 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "m=video 9 UDP/TLS/RTP/SAVPF 96",
        "m=video 9 UDP/TLS/RTP/SAVPF",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "c=IN IP4 0.0.0.0",
        "a=recvonly",
        "a=sendonly",
        "a=mid:0",
        "a=rtpmap:96 H264/90000",
        "a=rtpmap:96",
        "a=fmtp:96 packetization-mode=1;profile-level-id=42e01f",
        "a=ice-ufrag:abcd",
        "a=ice-pwd:0123456789012345678901",
        "a=fingerprint:sha-256 00:11",
        "a=setup:actpass",
        "a=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host",
        "a=candidate:1 1 udp x 10.0.0.1 9 typ host",
        "a=group:BUNDLE 0",
        "a=rtcp-mux",
    ]
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.one_of(
        st.lists(SDP_LINES, max_size=25).map("\r\n".join),
        st.text(max_size=300),
    )
)
async def test_fuzzed_offers_never_break_the_endpoint(offer):
    async with running_sink() as sink:
        status, body, _ = await post_offer(whep(sink), offer.encode("utf-8", "surrogatepass"))
        assert status in (400, 201), (status, body)
        if status == 201:
            async with aiohttp.ClientSession() as http:
                location = _location_of(sink)
                async with http.delete(location) as r:
                    assert r.status == 200
        assert sink.viewers == 0


def _location_of(sink: WebRtcSink) -> str:
    (session,) = sink.server.sessions
    return f"http://127.0.0.1:{sink.port}/processed/whep/{session}"


async def test_a_viewer_playing_longer_than_viewer_timeout_stays_and_its_rtcp_is_heard():
    # the sink hears each viewer's RTCP through a hook on aiortc's sender: if that hook
    # broke, every viewer would be closed after viewerTimeout
    async with (
        running_sink(viewer_timeout=2.0) as sink,
        feeding(sink),
        whep_viewer(whep(sink)) as viewer,
    ):
        await viewer.frames(5)
        (session,) = sink.server.sessions.values()
        loop = asyncio.get_running_loop()
        end = loop.time() + 5
        while loop.time() < end:
            await viewer.frames(1)
        assert sink.viewers == 1
        assert session.last_rtcp is not None
        assert metric(sink, "dh_webrtc_sessions_closed", "failed") == 0
        # a picture loss reported by the viewer asks the encoder for a key frame
        from aiortc.rtp import RTCP_PSFB_PLI, RtcpPsfbPacket

        sender = session.pc.getSenders()[0]
        sink._want_key = False
        await sender._handle_rtcp_packet(
            RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=1, media_ssrc=sender._ssrc)
        )
        assert sink._want_key
