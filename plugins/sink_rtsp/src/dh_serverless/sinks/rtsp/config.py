"""The ``attributes`` of an ``rtsp`` sink.

``function.yaml``::

    triggers:
      camera:
        kind: mjpeg
        attributes:
          url: http://camera.local/stream.mjpg
          sink:
            kind: rtsp
            attributes:
              port: 8554
              path: /processed
              type: video        # or audio (L16 PCM, with sample_rate and channels)
              codec: h264        # or jpeg
              fps: 30
              auth: {scheme: digest, username: viewer, password: secret}

Keys match ignoring case and underscores (``sessionTimeout``, ``session_timeout``).
``type: audio`` serves the handler's PCM as L16 (RFC 3551) at ``sample_rate`` Hz with
``channels`` channels, as the original does.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

__all__ = ("AuthConfig", "RtspAttributes")


def _between(key: str, low: int, high: int) -> Any:
    def check(_: Any, __: attrs.Attribute[int], value: int) -> None:
        if not low <= value <= high:
            raise ValueError(f"{key} must be between {low} and {high}, got {value}")

    return check


def _check_path(_: Any, __: attrs.Attribute[str], value: str) -> None:
    if not value.startswith("/") or any(c.isspace() for c in value) or "?" in value:
        raise ValueError(f"path must start with / and hold no spaces or '?', got {value!r}")


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _check_type(_: Any, __: attrs.Attribute[str], value: str) -> None:
    if value not in ("video", "audio"):
        raise ValueError(f"type must be video or audio, got {value!r}")


def _not_empty(key: str) -> Any:
    def check(_: Any, __: attrs.Attribute[str], value: str) -> None:
        if not value:
            raise ValueError(f"{key} must not be empty")

    return check


@attrs.frozen
class AuthConfig:
    """``attributes.auth``: viewers must log in (RTSP URL ``rtsp://user:password@host/...``).

    :param scheme: ``basic`` (password in clear on the wire) or ``digest``.
    """

    username: str = attrs.field(validator=_not_empty("auth.username"))
    password: str = attrs.field(repr=False, validator=_not_empty("auth.password"))
    scheme: Literal["basic", "digest"] = "digest"
    realm: str = "dh-serverless"


@attrs.frozen
class RtspAttributes:
    """``attributes`` of an ``rtsp`` sink.

    :param port: the RTSP port (TCP); ``0`` picks a free one. RTP over UDP uses a pair of
        free ports per viewer.
    :param host: the address to listen on.
    :param path: the stream's path: ``rtsp://host:port<path>``.
    :param codec: ``h264`` (encoded with libx264) or ``jpeg`` (RFC 2435; qualifying JPEGs
        pass through untouched, others are re-encoded).
    :param fps: the expected frame rate: the SDP's hint and the H.264 GOP (two seconds).
        Timestamps always follow the real frame times.
    :param bitrate: H.264 target in bits per second; ``0`` keeps constant quality.
    :param quality: JPEG quality (1-100) of frames re-encoded for the ``jpeg`` codec.
    :param session_timeout: seconds a viewer may stay silent (no request, no RTCP report)
        before its session ends; clients keep alive at about half of it.
    :param max_viewers: viewers playing at once; more are answered 503.
    :param max_lag_bytes: bytes a TCP viewer may have unsent before frames are skipped
        for it until the next keyframe.
    :param title: the SDP session name.
    :param type: ``video`` or ``audio``: the handler's results are PCM (16-bit
        little-endian bytes or an int16 array), served as L16 at ``sample_rate`` Hz
        with ``channels`` channels; ``codec``, ``fps`` and the video keys are unused.
    """

    port: int = attrs.field(default=8554, validator=_between("port", 0, 65535))
    host: str = "0.0.0.0"
    path: str = attrs.field(default="/stream", validator=_check_path)
    codec: Literal["h264", "jpeg"] = "h264"
    fps: int = attrs.field(default=30, validator=_between("fps", 1, 240))
    bitrate: int = attrs.field(default=0, validator=_between("bitrate", 0, 1_000_000_000))
    quality: int = attrs.field(default=85, validator=_between("quality", 1, 100))
    session_timeout: int = attrs.field(default=60, validator=_between("sessionTimeout", 2, 3600))
    max_viewers: int = attrs.field(default=16, validator=_between("maxViewers", 1, 1024))
    max_lag_bytes: int = attrs.field(
        default=1 << 20, validator=_between("maxLagBytes", 16 * 1024, 1 << 30)
    )
    title: str = "dh-serverless"
    auth: AuthConfig | None = None
    #: the original's stream type: ``video`` (frames) or ``audio`` (PCM as L16).
    type: str = attrs.field(default="video", converter=_lower, validator=_check_type)
    #: audio: the PCM's sample rate in Hz (the RTP clock).
    sample_rate: int = 16000
    #: audio: interleaved channels of the PCM.
    channels: int = 1

    def __attrs_post_init__(self) -> None:
        # Checked for audio only: video configurations of the original may carry any
        # value here, and it ignores them.
        if self.type == "audio":
            _between("sampleRate", 1000, 192000)(self, None, self.sample_rate)
            _between("channels", 1, 8)(self, None, self.channels)
