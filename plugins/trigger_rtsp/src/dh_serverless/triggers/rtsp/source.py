"""Reading one RTSP stream with PyAV (FFmpeg): connect, demux, decode, hand out.

PyAV's calls block, so a reader runs on its own thread. FFmpeg does the RTSP dialogue
(RTP over TCP or UDP; basic or digest authentication from the URL's credentials) and the
decoding (H.264, H.265, MJPEG, L16, AAC, Opus, G.711, ...). What comes out goes to two
callbacks: decoded audio, already resampled to the trigger's PCM format, and decoded video
frames. The reader returns when asked to stop, and raises when the stream is lost or stalls;
the trigger reconnects.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import av
import av.error

from dh_serverless.core.api import redact_url
from dh_serverless.triggers.rtsp.pcm import AudioFormat, PcmConverter

__all__ = (
    "AudioFormat",
    "SourceError",
    "StalledError",
    "open_options",
    "read_stream",
    "redact_url",
)


class SourceError(Exception):
    """The stream opened but cannot be used (no stream of the wanted media type, ...)."""


class StalledError(SourceError):
    """A connected stream delivered nothing decodable for ``read_timeout`` seconds."""


def open_options(transport: str, read_timeout: float, media_type: str) -> dict[str, str]:
    """FFmpeg's RTSP demuxer options for one connection."""
    options = {
        # socket I/O timeout in microseconds (FFmpeg >= 5 calls it "timeout")
        "timeout": str(max(1, int(read_timeout * 1_000_000))),
        # set up only the tracks this trigger decodes (no video bandwidth for audio)
        "allowed_media_types": media_type,
        "fflags": "nobuffer",
    }
    if transport != "auto":
        options["rtsp_transport"] = transport
    return options


def read_stream(
    url: str,
    *,
    media_type: str,
    transport: str,
    connect_timeout: float,
    read_timeout: float,
    stop: threading.Event,
    on_connected: Callable[[str], None],
    on_audio: Callable[[bytes, float], None] | None = None,
    audio_format: AudioFormat | None = None,
    on_video: Callable[[Any], None] | None = None,
    on_corrupt: Callable[[], None] | None = None,
    decode_threads: int = 1,
) -> None:
    """Read ``url`` until ``stop`` is set (then return) or the stream fails (then raise).

    :param on_connected: called once the stream is open, with a description of the track.
    :param on_audio: ``(pcm, seconds)`` for each piece of resampled audio.
    :param on_video: each decoded ``av.VideoFrame``.
    :param on_corrupt: called for each packet the decoder rejected.
    :param decode_threads: video: 1 decodes on the reader thread (no added latency); more
        use FFmpeg's frame threading (more throughput, ``decode_threads - 1`` frames of
        delay). FFmpeg's slice threading is never used: it decoded multi-slice H.264
        from GStreamer's x264enc into wrong pictures (PyAV 18).
    :raises StalledError: nothing decodable arrived for ``read_timeout`` seconds.
    :raises SourceError, av.error.FFmpegError, OSError: the stream could not be read.
    """
    options = open_options(transport, read_timeout, media_type)
    try:
        container = av.open(url, options=options, timeout=(connect_timeout, read_timeout))
    except av.error.ExitError as exc:
        raise TimeoutError(f"no answer within {connect_timeout:g}s (connectTimeout)") from exc
    except av.error.HTTPOtherClientError as exc:
        # Only the tracks of media_type are set up: without one, GStreamer refuses PLAY.
        raise SourceError(
            f"{type(exc).__name__}: {exc.strerror or exc} (is there a {media_type} track?)"
        ) from exc
    except av.error.InvalidDataError as exc:
        raise SourceError(
            f"{type(exc).__name__}: {exc.strerror or exc} (not an RTSP stream FFmpeg can "
            f"play, or no {media_type} track)"
        ) from exc
    try:
        streams = container.streams.audio if media_type == "audio" else container.streams.video
        if not streams:
            kinds = ", ".join(s.type for s in container.streams) or "none"
            raise SourceError(f"the stream has no {media_type} track (tracks: {kinds})")
        stream: Any = streams[0]
        if media_type == "video":
            stream.thread_type = "FRAME" if decode_threads > 1 else "NONE"
            stream.codec_context.thread_count = decode_threads
        codec: Any = stream.codec_context
        if media_type == "audio":
            on_connected(f"{codec.name} {codec.sample_rate} Hz {codec.channels} ch")
        else:
            on_connected(f"{codec.name} {codec.width}x{codec.height}")
        _demux(
            container, stream, media_type, read_timeout, stop,
            on_audio, audio_format, on_video, on_corrupt,
        )  # fmt: skip
    finally:
        container.close()


def _demux(
    container: Any,
    stream: Any,
    media_type: str,
    read_timeout: float,
    stop: threading.Event,
    on_audio: Callable[[bytes, float], None] | None,
    audio_format: AudioFormat | None,
    on_video: Callable[[Any], None] | None,
    on_corrupt: Callable[[], None] | None,
) -> None:
    converter = None
    if media_type == "audio":
        assert on_audio is not None
        assert audio_format is not None
        converter = PcmConverter(audio_format)
        per_second = audio_format.bytes_per_second
    else:
        assert on_video is not None
    last_output = time.monotonic()
    try:
        for packet in container.demux(stream):
            if stop.is_set():
                return
            try:
                frames = packet.decode()
            except av.error.FFmpegError:
                if on_corrupt is not None:
                    on_corrupt()
                frames = []
            now = time.monotonic()
            if frames:
                last_output = now
            elif now - last_output > read_timeout:
                raise StalledError(f"packets but no decodable data for {read_timeout:g}s")
            for frame in frames:
                if converter is not None:
                    assert on_audio is not None
                    pcm = converter.convert(frame)
                    if pcm:
                        on_audio(pcm, len(pcm) / per_second)
                else:
                    assert on_video is not None
                    on_video(frame)
    except av.error.ExitError as exc:
        if stop.is_set():
            return
        raise StalledError(f"no data for {read_timeout:g}s (readTimeout)") from exc
    except av.error.EOFError as exc:
        raise SourceError("the stream ended") from exc
    if not stop.is_set():
        raise SourceError("the stream ended")
