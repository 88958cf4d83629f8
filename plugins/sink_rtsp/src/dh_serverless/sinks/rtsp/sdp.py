"""The session description (RFC 4566) a DESCRIBE answers with."""

from __future__ import annotations

import base64

__all__ = ("TRACK", "h264_sdp", "jpeg_sdp", "l16_sdp")

TRACK = "trackID=0"  #: the one media track's control URL, relative to Content-Base


def _head(session_id: int, address: str, title: str) -> list[str]:
    return [
        "v=0",
        f"o=- {session_id} 1 IN IP4 {address}",
        f"s={title}",
        "c=IN IP4 0.0.0.0",
        "t=0 0",
        "a=tool:dh-serverless",
        "a=range:npt=0-",
    ]


def h264_sdp(session_id: int, address: str, title: str, sps: bytes, pps: bytes, fps: int) -> str:
    """SDP for H.264 (payload type 96, mode 1) with ``sprop-parameter-sets``."""
    profile = sps[1:4].hex().upper() if len(sps) >= 4 else "42C01E"
    sets = ",".join(base64.b64encode(p).decode("ascii") for p in (sps, pps) if p)
    lines = [
        *_head(session_id, address, title),
        "m=video 0 RTP/AVP 96",
        "a=rtpmap:96 H264/90000",
        f"a=fmtp:96 packetization-mode=1;profile-level-id={profile};sprop-parameter-sets={sets}",
        f"a=framerate:{fps}",
        f"a=control:{TRACK}",
    ]
    return "\r\n".join(lines) + "\r\n"


def jpeg_sdp(session_id: int, address: str, title: str, fps: int) -> str:
    """SDP for JPEG (RFC 2435, static payload type 26)."""
    lines = [
        *_head(session_id, address, title),
        "m=video 0 RTP/AVP 26",
        "a=rtpmap:26 JPEG/90000",
        f"a=framerate:{fps}",
        f"a=control:{TRACK}",
    ]
    return "\r\n".join(lines) + "\r\n"


def l16_sdp(
    session_id: int, address: str, title: str, payload_type: int, rate: int, channels: int
) -> str:
    """SDP for one L16 audio track (RFC 3551; ``rtpmap`` names the rate and channels)."""
    lines = [
        *_head(session_id, address, title),
        f"m=audio 0 RTP/AVP {payload_type}",
        f"a=rtpmap:{payload_type} L16/{rate}/{channels}",
        "a=ptime:20",
        f"a=control:{TRACK}",
    ]
    return "\r\n".join(lines) + "\r\n"
