"""The pure parts: the attributes as a user writes them (fuzzed), URL redaction, frame
conversion. The rolling buffer is the core's (core/tests/test_rollingbuffer.py)."""

from __future__ import annotations

import av
import numpy as np
import pytest
import simplejpeg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dh_serverless.core.api import RollingBuffer
from dh_serverless.core.config import structure
from dh_serverless.core.errors import ConfigError
from dh_serverless.triggers.rtsp import RtspTriggerAttributes
from dh_serverless.triggers.rtsp.frames import to_jpeg, to_rgb
from dh_serverless.triggers.rtsp.pcm import AudioFormat, PcmConverter
from dh_serverless.triggers.rtsp.source import open_options, redact_url

# ---------------------------------------------------------------------------
# Attributes, through the core's loader as a user's function.yaml is read
# ---------------------------------------------------------------------------


def _load(_tmp_path, attributes: dict) -> RtspTriggerAttributes:
    path = ("spec", "triggers", "cam", "attributes")
    return structure(attributes, RtspTriggerAttributes, source="function.yaml", path=path)


def test_the_originals_defaults(tmp_path):
    a = _load(tmp_path, {"rtsp_url": "rtsp://localhost:8554/mystream"})
    assert (a.media_type, a.processing_interval) == ("audio", 2000)
    assert (a.chunk_bytes, a.max_bytes, a.trim_bytes) == (16000, 1440000, 1120000)
    assert (a.sample_rate, a.channels, a.jpeg_quality, a.transport) == (16000, 1, 80, "tcp")


def test_the_original_readmes_block_loads(tmp_path):
    # README.md of the original: `url:` where its code reads `rtsp_url`
    a = _load(tmp_path, {"url": "rtsp://camera.local:8554/stream"})
    assert a.rtsp_url == "rtsp://camera.local:8554/stream"
    assert _load(tmp_path, {"url": "rtsp://a/x", "rtsp_url": "rtsp://b/y"}).rtsp_url == "rtsp://b/y"


def test_any_spelling_of_the_keys(tmp_path):
    a = _load(tmp_path, {"rtspUrl": "rtsp://h/s", "MediaType": "Video", "processingInterval": 0})
    assert (a.media_type, a.processing_interval) == ("video", 0)


@pytest.mark.parametrize(
    ("attributes", "words"),
    [
        ({}, "rtsp_url is required"),
        ({"rtsp_url": "http://h/s"}, "rtsp://"),
        ({"rtsp_url": "rtsp://h/s", "media_type": "text"}, "one of audio, video"),
        ({"rtsp_url": "rtsp://h/s", "trim_bytes": 2000000}, "trim_bytes"),
        ({"rtsp_url": "rtsp://h/s", "chunk_bytes": 16001}, "multiple of 2"),
        ({"rtsp_url": "rtsp://h/s", "transport": "sctp"}, "one of tcp, udp, auto"),
        ({"rtsp_url": "rtsp://h/s", "processing_interval": -1}, "processing_interval"),
        ({"rtsp_url": "rtsp://h/s", "channels": 6}, "channels"),
    ],
)
def test_bad_attributes_are_named(tmp_path, attributes, words):
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, attributes)
    assert words in str(info.value)


_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=True),
    st.text(max_size=20), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)  # fmt: skip
_KEYS = st.sampled_from(
    [a.name for a in RtspTriggerAttributes.__attrs_attrs__] + ["rtspUrl", "bogus", "MEDIA_TYPE"]
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(attributes=st.dictionaries(_KEYS, _VALUES, max_size=6), url=st.text(max_size=40))
def test_fuzzed_attributes_load_or_fail_cleanly(tmp_path, attributes, url):
    if "rtsp_url" not in attributes:
        attributes["rtsp_url"] = "rtsp://" + url
    try:
        a = _load(tmp_path, attributes)
    except ConfigError:
        return
    assert a.media_type in ("audio", "video")
    assert a.trim_bytes <= a.max_bytes or a.media_type == "video"
    if a.media_type == "audio":  # what loads makes a buffer the trigger can use
        RollingBuffer(a.chunk_bytes, a.max_bytes, a.trim_bytes)


@settings(max_examples=300, deadline=None)
@given(
    user=st.text(alphabet="abc:%", max_size=8),
    password=st.text(max_size=12),
    host=st.sampled_from(["cam", "10.0.0.1", "[::1]"]),
    port=st.one_of(st.none(), st.integers(1, 65535)),
)
def test_redacted_urls_never_show_the_password(user, password, host, port):
    from urllib.parse import quote

    secret = "S3CRET" + quote(password, safe="")
    netloc = f"{quote(user, safe='')}:{secret}@{host}" + (f":{port}" if port else "")
    url = f"rtsp://{netloc}/stream"
    shown = redact_url(url)
    assert secret not in shown
    assert shown.endswith("/stream")
    assert host in shown
    assert str(port) in shown if port else True
    if user:
        assert "***" in shown


def test_options_for_ffmpeg():
    assert open_options("udp", 2.5, "video") == {
        "rtsp_transport": "udp", "timeout": "2500000",
        "allowed_media_types": "video", "fflags": "nobuffer",
    }  # fmt: skip
    assert "rtsp_transport" not in open_options("auto", 1, "audio")


# ---------------------------------------------------------------------------
# Frames
# ---------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    fmt=st.sampled_from(["yuv420p", "yuvj420p", "rgb24", "nv12", "yuv422p", "gray", "bgr24"]),
    width=st.integers(16, 96),
    height=st.integers(16, 96),
    colour=st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)),
)
def test_any_decoded_frame_becomes_a_jpeg_of_its_size(fmt, width, height, colour):
    if fmt in ("nv12", "yuv420p", "yuvj420p", "yuv422p"):
        width, height = width & ~1, height & ~1  # FFmpeg's 4:2:x frames have even sides
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[:, : width // 2] = colour
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=fmt)
    expected = to_rgb(frame)  # swscale's own conversion, the reference
    assert expected.shape == (height, width, 3)
    back = simplejpeg.decode_jpeg(to_jpeg(frame, 95))
    assert back.shape == (height, width, 3)
    inner = (slice(2, -2), slice(2, width // 2 - 4))  # away from the edge and JPEG ringing
    if width // 2 - 4 > 2:
        diff = np.abs(back[inner].astype(int) - expected[inner].astype(int)).mean()
        assert diff < 12, (fmt, colour, diff)


# ---------------------------------------------------------------------------
# PCM conversion
# ---------------------------------------------------------------------------


def _frames(signal: np.ndarray, fmt: str, layout: str, rate: int, sizes: list[int]):
    """``signal`` (samples x channels, float in -1..1) cut into av.AudioFrames of ``sizes``."""
    start = 0
    for size in sizes:
        piece = signal[start : start + size]
        start += size
        if not len(piece):
            break
        if fmt == "s16":
            data = (piece * 20000).astype(np.int16).reshape(1, -1)
        elif fmt == "s16p":
            data = np.ascontiguousarray((piece * 20000).astype(np.int16).T)
        else:  # fltp
            data = np.ascontiguousarray(piece.astype(np.float32).T)
        frame = av.AudioFrame.from_ndarray(data, format=fmt, layout=layout)
        frame.sample_rate = rate
        yield frame


def test_matching_pcm_passes_through_unchanged():
    target = AudioFormat(16000, 1)
    converter = PcmConverter(target)
    pcm = (np.arange(-800, 800, dtype=np.int16) * 20).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
    frame.sample_rate = 16000
    assert converter.convert(frame) == pcm.astype("<i2").tobytes()


@settings(max_examples=40, deadline=None)
@given(
    source=st.sampled_from(
        [("s16", "stereo", 48000), ("fltp", "stereo", 44100), ("s16p", "mono", 8000),
         ("fltp", "mono", 16000), ("s16", "mono", 22050)]
    ),
    target=st.sampled_from([(16000, 1), (16000, 2), (8000, 1), (48000, 1)]),
    sizes=st.lists(st.integers(1, 3000), min_size=1, max_size=8),
)  # fmt: skip
def test_any_source_becomes_the_target_tone(source, target, sizes):
    fmt, layout, rate = source
    channels = 2 if layout == "stereo" else 1
    seconds = 1.0
    t = np.arange(int(rate * seconds)) / rate
    signal = np.repeat(np.sin(2 * np.pi * 440 * t)[:, None] * 0.5, channels, axis=1)
    repeated = (sizes * (len(t) // max(1, sum(sizes)) + 1))[: len(t)]
    converter = PcmConverter(AudioFormat(*target))
    out = b"".join(converter.convert(f) for f in _frames(signal, fmt, layout, rate, repeated))
    out += converter.flush()
    pcm = np.frombuffer(out, "<i2").reshape(-1, target[1])
    assert abs(len(pcm) - target[0] * seconds) < target[0] * 0.1
    spectrum = np.abs(np.fft.rfft(pcm[:, 0] * np.hanning(len(pcm))))
    peak = np.fft.rfftfreq(len(pcm), 1 / target[0])[int(np.argmax(spectrum))]
    assert abs(peak - 440) < 4
