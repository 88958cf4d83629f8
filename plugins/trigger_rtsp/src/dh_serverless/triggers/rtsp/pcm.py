"""Decoded audio frames to the handler's PCM: signed 16-bit little-endian, interleaved, at
the trigger's rate and channel count.

A source already in that form (the original's case: go2rtc's ``pcm/16000``, mono L16)
passes through with one copy. Anything else goes through FFmpeg's resampler, fed about
0.1 s at a time: an RTP packet holds a few milliseconds of audio, and one resampler call
costs about as much as 70 ms of resampling itself, so batching halves the reader's CPU.
"""

from __future__ import annotations

from typing import Any

import av
import numpy as np

__all__ = ("AudioFormat", "PcmConverter")


class AudioFormat:
    """The PCM the handler gets: signed 16-bit little-endian at ``rate`` Hz, interleaved."""

    __slots__ = ("channels", "layout", "rate")

    def __init__(self, rate: int, channels: int) -> None:
        self.rate = rate
        self.channels = channels
        self.layout = "mono" if channels == 1 else "stereo"

    @property
    def bytes_per_second(self) -> int:
        """Bytes of PCM per second of audio."""
        return self.rate * self.channels * 2


class PcmConverter:
    """Turns decoded ``av.AudioFrame`` objects into PCM bytes of ``target``.

    :param target: the output format.
    :param batch: seconds of source audio collected before one resampler call.
    """

    def __init__(self, target: AudioFormat, batch: float = 0.1) -> None:
        self.target = target
        self.batch = batch
        self._resampler = av.AudioResampler(format="s16", layout=target.layout, rate=target.rate)
        self._pending: list[np.ndarray[Any, Any]] = []
        self._pending_samples = 0
        self._shape: tuple[str, str, int] | None = None
        self._pts = 0

    def _passes_through(self, frame: Any) -> bool:
        t = self.target
        return bool(
            frame.format.name == "s16"
            and frame.sample_rate == t.rate
            and frame.layout.nb_channels == t.channels
        )

    def convert(self, frame: Any) -> bytes:
        """PCM for ``frame``; may be empty while a batch fills (or hold earlier audio)."""
        if self._passes_through(frame):
            head = self.flush()
            pcm: bytes = frame.to_ndarray().astype("<i2", copy=False).tobytes()
            return head + pcm if head else pcm
        shape = (frame.format.name, frame.layout.name, frame.sample_rate)
        head = b""
        if self._shape is not None and shape != self._shape:
            head = self.flush()
        self._shape = shape
        self._pending.append(frame.to_ndarray())
        self._pending_samples += frame.samples
        if self._pending_samples < self.batch * frame.sample_rate:
            return head
        return head + self.flush()

    def flush(self) -> bytes:
        """Resample what is pending now."""
        if not self._pending or self._shape is None:
            return b""
        name, layout, rate = self._shape
        data = self._pending[0] if len(self._pending) == 1 else np.concatenate(self._pending, -1)
        self._pending = []
        samples, self._pending_samples = self._pending_samples, 0
        big = av.AudioFrame.from_ndarray(data, format=name, layout=layout)
        big.sample_rate = rate
        big.pts = self._pts
        self._pts += samples
        return b"".join(
            out.to_ndarray().astype("<i2", copy=False).tobytes()
            for out in self._resampler.resample(big)
        )
