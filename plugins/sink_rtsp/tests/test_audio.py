"""``type: audio``: the handler's PCM served as L16 (RFC 3551), read by ffprobe and ffmpeg;
the packetiser fuzzed with hypothesis."""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
from collections.abc import AsyncIterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rtsp_helpers import make_sink, probe, run

from dh_serverless.hookspecs import Event, Response
from dh_serverless.sinks.rtsp import RtspSink
from dh_serverless.sinks.rtsp.audio import L16Packetizer
from dh_serverless.sinks.rtsp.rtp import MAX_PAYLOAD, RtpStream

FFMPEG = "ffmpeg"


def tone(freq: float, rate: int, seconds: float, channels: int = 1) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    mono = (np.sin(2 * np.pi * freq * t) * 12000).astype("<i2")
    return np.repeat(mono[:, None], channels, axis=1) if channels > 1 else mono


def dominant(samples: np.ndarray, rate: int) -> float:
    x = samples.astype(np.float64) - samples.mean()
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[int(np.argmax(spectrum))])


@contextlib.asynccontextmanager
async def audio_sink(
    rate: int, channels: int, freq: float, as_array: bool = False
) -> AsyncIterator[RtspSink]:
    """A started audio sink fed 100 ms pieces of a tone in real time, as a trigger would."""
    sink = make_sink(type="audio", sample_rate=rate, channels=channels)
    await sink.start()
    signal = tone(freq, rate, 60, channels)
    step = rate // 10

    async def feed() -> None:
        for start in range(0, len(signal), step):
            piece = signal[start : start + step]
            body = piece if as_array else piece.tobytes()
            await sink.emit(Response(body=body), Event())
            await asyncio.sleep(0.1)

    task = asyncio.ensure_future(feed())
    try:
        yield sink
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await sink.stop()


@pytest.mark.parametrize(("rate", "channels"), [(16000, 1), (44100, 2), (8000, 1)])
async def test_ffprobe_sees_l16_at_the_configured_rate_and_channels(rate, channels):
    async with audio_sink(rate, channels, 440) as sink:
        result = await probe(sink.url, "-rtsp_transport", "tcp")
        # probe() asks for video entries; ask again for the audio ones
        result = await run(
            "ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-show_entries",
            "stream=codec_type,codec_name,sample_rate,channels", "-of", "json", sink.url,
            timeout=25,
        )  # fmt: skip
    assert result.code == 0, result.err
    (stream,) = json.loads(result.out)["streams"]
    assert stream["codec_type"] == "audio"
    assert stream["codec_name"] == "pcm_s16be"
    assert (int(stream["sample_rate"]), stream["channels"]) == (rate, channels)


@pytest.mark.parametrize("transport", ["tcp", "udp"])
@pytest.mark.parametrize("as_array", [False, True])
async def test_ffmpeg_decodes_the_tone(transport, as_array):
    async with audio_sink(16000, 1, 660, as_array=as_array) as sink:
        result = await run(
            FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-rtsp_transport",
            transport, "-i", sink.url, "-t", "2", "-f", "s16le", "-ac", "1", "-ar", "16000", "-",
            timeout=30,
        )  # fmt: skip
    assert result.code == 0, result.err
    pcm = np.frombuffer(result.out, "<i2")
    assert len(pcm) >= 16000 * 1.5
    assert abs(dominant(pcm, 16000) - 660) < 3
    assert result.err == ""


async def test_stereo_array_keeps_its_channels():
    async with audio_sink(48000, 2, 1000, as_array=True) as sink:
        result = await run(
            FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp",
            "-i", sink.url, "-t", "1", "-f", "s16le", "-",
            timeout=30,
        )  # fmt: skip
    assert result.code == 0, result.err
    pcm = np.frombuffer(result.out, "<i2").reshape(-1, 2)
    assert np.array_equal(pcm[:, 0], pcm[:, 1])
    assert abs(dominant(pcm[:, 0], 48000) - 1000) < 3


async def test_bad_results_raise_clearly():
    sink = make_sink(type="audio", sample_rate=16000, channels=2)
    await sink.start()
    try:
        with pytest.raises(ValueError, match="int16"):
            await sink.emit(Response(body=np.zeros(10, np.float32)), Event())
        with pytest.raises(ValueError, match="2 channel"):
            await sink.emit(Response(body=np.zeros((10, 3), np.int16)), Event())
        with pytest.raises(ValueError, match="PCM bytes"):
            await sink.emit(Response(body={"a": 1}), Event())
        await sink.emit(Response(body=b"\x01\x02\x03"), Event())  # a partial frame waits
    finally:
        await sink.stop()


@settings(max_examples=300, deadline=None)
@given(
    rate=st.sampled_from([8000, 16000, 44100, 48000, 96000]),
    channels=st.integers(1, 8),
    pieces=st.lists(st.binary(max_size=3000), max_size=20),
)
def test_packets_carry_every_whole_frame_in_order_big_endian(rate, channels, pieces):
    packetizer = L16Packetizer(rate, channels)
    stream = RtpStream(97)
    sent = b""
    frames = 0
    ts = 1000
    step = packetizer.packet_bytes // packetizer.frame_bytes
    for piece in pieces:
        payloads, count = packetizer.payloads(piece)
        frames += count
        packets = stream.spaced(payloads, ts, step)
        for index, packet in enumerate(packets):
            first, second, _, stamp, _ = struct.unpack("!BBHII", packet[:12])
            assert (first, second) == (0x80, 97)
            assert stamp == ts + index * step
            body = packet[12:]
            assert 0 < len(body) <= MAX_PAYLOAD
            assert len(body) % packetizer.frame_bytes == 0
            sent += body
        ts += count
    data = b"".join(pieces)
    whole = len(data) - len(data) % packetizer.frame_bytes
    assert frames * packetizer.frame_bytes == whole == len(sent)
    expected = np.frombuffer(data[:whole], "<i2").astype(">i2").tobytes()
    assert sent == expected
