"""The pieces alone: the attributes, the frame hub and a viewer's track, the SDP edits."""

from __future__ import annotations

import asyncio

import pytest
from aiortc.mediastreams import MediaStreamError
from hypothesis import given
from hypothesis import strategies as st
from whep_client import jpeg, picture

from dh_serverless.core.config import structure
from dh_serverless.core.errors import ConfigError
from dh_serverless.sinks.webrtc import IceServer, WebRtcSinkAttributes
from dh_serverless.sinks.webrtc.encoder import EncodedFrame, FrameEncoder
from dh_serverless.sinks.webrtc.ice import announce, keep_reachable
from dh_serverless.sinks.webrtc.track import FrameHub, ViewerTrack

PATH = ("spec", "triggers", "cam", "attributes", "sink", "attributes")


def _structure(raw):
    return structure(raw, WebRtcSinkAttributes, source="function.yaml", path=PATH)


def _problems(raw):
    with pytest.raises(ConfigError) as info:
        _structure(raw)
    return "\n".join(info.value.problems)


def test_defaults():
    a = _structure({})
    assert (a.port, a.path, a.codec, a.max_viewers, a.ice_servers) == (
        8889,
        "/processed",
        "h264",
        16,
        (),
    )
    assert (a.host, a.additional_hosts, float(a.viewer_timeout)) == ("0.0.0.0", (), 10.0)


def test_keys_ice_servers_and_hosts():
    a = _structure(
        {
            "MaxViewers": 3,
            "viewer_timeout": "2s",
            "iceServers": [
                {"urls": "stun:stun.example.org"},
                {"urls": ["turn:t.example.org?transport=tcp"], "username": "u", "credential": "p"},
            ],
            "additionalHosts": ["203.0.113.7", "2001:db8::1"],
        }
    )
    assert a.max_viewers == 3
    assert _structure({"codec": "VP8"}).codec == "vp8"
    assert float(a.viewer_timeout) == 2.0
    assert a.ice_servers == (
        IceServer(("stun:stun.example.org",)),
        IceServer(("turn:t.example.org?transport=tcp",), "u", "p"),
    )
    assert "credential" not in repr(a.ice_servers[1])
    assert a.additional_hosts == ("203.0.113.7", "2001:db8::1")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"codec": "h265"}, "codec must be one of h264, vp8, got 'h265'"),
        ({"port": 70000}, "port must be between 1 and 65535"),
        ({"path": "processed"}, "path must be an absolute path"),
        ({"path": "/a/"}, "path must not end with /"),
        ({"maxViewers": 0}, "maxViewers must be between 1"),
        ({"bitrate": 10}, "bitrate must be between"),
        ({"iceServers": [{"urls": "http://x"}]}, "must start with stun:, turn: or turns:"),
        ({"iceServers": [{"urls": []}]}, "at least one"),
        ({"additionalHosts": ["example.org"]}, "additionalHosts takes IP addresses"),
        ({"maxviewrs": 3}, "maxViewers"),
    ],
)
def test_bad_values_are_named(raw, message):
    assert message in _problems(raw)


def frame(seq: int, keyframe: bool) -> EncodedFrame:
    return EncodedFrame(f"packet{seq}", keyframe, seq, 0.0, 16, 16, 0.0)


async def test_a_viewer_that_falls_behind_skips_to_the_next_keyframe():
    hub = FrameHub()
    asked: list[int] = []
    counted: list[tuple[object, int]] = []
    track = ViewerTrack(hub, lambda: asked.append(1), lambda f, n: counted.append((f, n)))
    assert asked == [1]  # a new viewer asks for a key frame
    hub.publish(frame(1, False))  # not decodable alone: skipped, asked again
    hub.publish(frame(2, True))
    assert await track.recv() == "packet2"
    hub.publish(frame(3, False))
    assert await track.recv() == "packet3"
    # the viewer is busy while frames 4 to 6 come: it gets the newest only, and since
    # it missed predicted frames, it waits for the next key frame
    for seq in (4, 5, 6):
        hub.publish(frame(seq, False))
    waiting = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    assert len(asked) == 2
    hub.publish(frame(7, True))
    assert await waiting == "packet7"
    assert (track.sent, track.skipped) == (3, 1 + 2 + 1)
    assert sum(n for _, n in counted) == 4
    hub.close()
    with pytest.raises(MediaStreamError):
        await track.recv()


def test_one_encoder_takes_jpeg_and_arrays_and_changes_size():
    for codec in ("h264", "vp8"):
        encoder = FrameEncoder(codec, 1_000_000, 30)
        first = encoder.encode(jpeg(0), 0, False, 1, 0.0)
        assert first is not None
        assert first.keyframe
        assert (first.width, first.height) == (320, 240)
        second = encoder.encode(picture(1), 3000, False, 2, 0.0)
        assert second is not None
        assert not second.keyframe
        assert second.packet.pts == 3000
        forced = encoder.encode(picture(2), 6000, True, 3, 0.0)
        assert forced is not None
        assert forced.keyframe
        bigger = encoder.encode(picture(3, 641, 481), 9000, False, 4, 0.0)
        assert bigger is not None
        assert (bigger.width, bigger.height, bigger.keyframe) == (640, 480, True)
        for bad in (b"not a jpeg", b"\xff\xd8garbage", picture(0)[..., 0], "text"):
            with pytest.raises(ValueError, match=r"JPEG|array"):
                encoder.encode(bad, 12000, False, 5, 0.0)


OFFER = (
    "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
    "a=candidate:1 1 udp 2122260223 192.0.2.2 50000 typ host generation 0\r\n"
    "a=candidate:2 1 udp 2122260223 127.0.0.1 50001 typ host generation 0\r\n"
    "a=candidate:3 1 udp 2122260223 0f1e.local 50002 typ host generation 0\r\n"
    "a=candidate:4 1 udp 2122262783 ::1 50003 typ host generation 0\r\n"
)


def test_loopback_only_sinks_keep_only_loopback_candidates():
    kept = keep_reachable(OFFER, ["127.0.0.1"])
    assert "127.0.0.1 50001" in kept
    assert "::1 50003" in kept
    assert "192.0.2.2" not in kept
    assert ".local" not in kept
    assert keep_reachable(OFFER, None) == OFFER
    assert keep_reachable(OFFER, ["192.0.2.2"]) == OFFER


def test_additional_hosts_are_announced_on_the_same_port():
    answer = announce(OFFER, ["203.0.113.7", "2001:db8::1"])
    assert "a=candidate:1x0 1 udp 2122260222 203.0.113.7 50000 typ host" in answer
    assert "a=candidate:2x0 1 udp 2122260222 203.0.113.7 50001 typ host" in answer
    assert "a=candidate:4x1 1 udp 2122262781 2001:db8::1 50003 typ host" in answer
    assert announce(OFFER, []) == OFFER


CANDIDATE_PARTS = st.sampled_from(
    ["a=candidate:1", "1", "udp", "2122260223", "x", "127.0.0.1", "10.0.0.1", "::1", "h.local",
     "50000", "typ", "host", "srflx", "raddr", "", "a=candidate:", "\r\n", "\n"]
)  # fmt: skip


@given(st.one_of(st.text(max_size=200), st.lists(CANDIDATE_PARTS, max_size=30).map(" ".join)))
def test_sdp_edits_never_fail_on_any_text(sdp):
    for local in (None, ["127.0.0.1"], ["192.0.2.2"]):
        kept = keep_reachable(sdp, local)
        assert isinstance(kept, str)
    assert isinstance(announce(sdp, ["203.0.113.7", "2001:db8::1"]), str)
