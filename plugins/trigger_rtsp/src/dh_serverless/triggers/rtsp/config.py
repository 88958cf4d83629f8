"""The ``attributes`` of an ``rtsp`` trigger.

``function.yaml`` (the original's keys and defaults)::

    triggers:
      mic:
        kind: rtsp
        attributes:
          rtsp_url: rtsp://user:secret@camera.local:8554/stream
          media_type: audio          # or video
          processing_interval: 2000  # ms
          chunk_bytes: 16000
          max_bytes: 1440000
          trim_bytes: 1120000
          sink: {kind: webhook, attributes: {url: http://127.0.0.1:8888/webhook}}

Keys match ignoring case and underscores (``rtsp_url``, ``rtspUrl``). ``sink`` is taken
out by the core before these attributes are structured. Durations other than
``processing_interval`` (milliseconds, as in the original) are Go durations (``"5s"``) or
numbers of seconds.
"""

from __future__ import annotations

from typing import Any

import attrs

from dh_serverless.core.api import Duration, validators

__all__ = ("RtspTriggerAttributes",)


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


@attrs.frozen
class RtspTriggerAttributes:
    """``spec.triggers.<name>.attributes`` of an ``rtsp`` trigger.

    :param rtsp_url: the stream (required); credentials in the URL
        (``rtsp://user:pass@host/path``) answer basic or digest authentication, whichever
        the server asks. ``url`` is accepted instead, as the original's README writes it.
    :param media_type: ``audio`` (PCM in a rolling buffer) or ``video`` (frames).
    :param processing_interval: milliseconds between two events; ``0``: audio as soon as
        ``chunk_bytes`` arrived, video every frame (the newest frame while workers are busy).
    :param chunk_bytes: audio: an event needs at least this many new bytes of PCM.
    :param max_bytes: audio: the rolling buffer's cap in bytes.
    :param trim_bytes: audio: bytes dropped from the front when the buffer overflows.
    :param sample_rate: audio: the PCM's rate in Hz (the source is resampled).
    :param channels: audio: 1 (mono) or 2 (stereo, interleaved).
    :param numpy: hand ``numpy`` arrays to the handler instead of bytes: video ``HxWx3``
        uint8 RGB, audio int16 ``(samples, channels)``.
    :param jpeg_quality: video: JPEG quality of the frames handed over.
    :param decode_threads: video: decoder threads; 1 adds no latency, more add
        ``decode_threads - 1`` frames of delay for more throughput (large frames).
    :param transport: ``tcp`` (RTP interleaved on the RTSP connection), ``udp``, or
        ``auto`` (FFmpeg's choice: UDP, then TCP when the server refuses UDP).
    :param reconnect_delay: wait this long before reconnecting to a lost source; doubles
        after each failed attempt up to ``max_reconnect_delay``.
    :param max_reconnect_delay: the back-off cap.
    :param connect_timeout: give up opening the stream after this long.
    :param read_timeout: a stream that delivers nothing decodable for this long stalled.
    :param order_wait: results reach the sink in event order; one waits at most this long
        for the events before it.
    """

    rtsp_url: str = ""
    media_type: str = attrs.field(
        default="audio", converter=_lower, validator=validators.one_of(("audio", "video"))
    )
    processing_interval: int = attrs.field(default=2000, validator=validators.between(0, 3_600_000))
    chunk_bytes: int = attrs.field(default=16000, validator=validators.at_least(2))
    max_bytes: int = attrs.field(default=1440000, validator=validators.at_least(2))
    trim_bytes: int = attrs.field(default=1120000, validator=validators.at_least(2))
    sample_rate: int = attrs.field(default=16000, validator=validators.between(1000, 384000))
    channels: int = attrs.field(default=1, validator=validators.between(1, 2))
    numpy: bool = False
    jpeg_quality: int = attrs.field(default=80, validator=validators.between(1, 100, "jpegQuality"))
    decode_threads: int = attrs.field(
        default=1, validator=validators.between(1, 16, "decodeThreads")
    )
    transport: str = attrs.field(
        default="tcp", converter=_lower, validator=validators.one_of(("tcp", "udp", "auto"))
    )
    reconnect_delay: Duration = attrs.field(
        default=Duration(1.0), validator=validators.at_least(0, "reconnectDelay")
    )
    max_reconnect_delay: Duration = attrs.field(
        default=Duration(30.0), validator=validators.at_least(0, "maxReconnectDelay")
    )
    connect_timeout: Duration = attrs.field(
        default=Duration(10.0), validator=validators.positive("connectTimeout")
    )
    read_timeout: Duration = attrs.field(
        default=Duration(10.0), validator=validators.positive("readTimeout")
    )
    order_wait: Duration = attrs.field(
        default=Duration(0.5), validator=validators.at_least(0, "orderWait")
    )

    #: the original README's spelling of ``rtsp_url`` (its code reads only ``rtsp_url``)
    url: str = ""

    def __attrs_post_init__(self) -> None:
        if not self.rtsp_url:
            if not self.url:
                raise ValueError("rtsp_url is required: the stream's rtsp:// URL")
            object.__setattr__(self, "rtsp_url", self.url)
        check = validators.url(("rtsp", "rtsps"), "rtsp_url")
        check(self, attrs.fields(type(self)).rtsp_url, self.rtsp_url)
        if self.max_reconnect_delay < self.reconnect_delay:
            object.__setattr__(self, "max_reconnect_delay", self.reconnect_delay)
        frame = 2 * self.channels
        if self.media_type == "audio":
            if self.trim_bytes > self.max_bytes:
                raise ValueError(
                    f"trim_bytes ({self.trim_bytes}) must not exceed max_bytes ({self.max_bytes})"
                )
            if self.chunk_bytes > self.max_bytes:
                raise ValueError(
                    f"chunk_bytes ({self.chunk_bytes}) must not exceed max_bytes "
                    f"({self.max_bytes}): no event could ever be sent"
                )
            for key in ("chunk_bytes", "max_bytes", "trim_bytes"):
                if getattr(self, key) % frame:
                    raise ValueError(
                        f"{key} must be a multiple of {frame} (16-bit samples x "
                        f"{self.channels} channel(s)), got {getattr(self, key)}"
                    )
