"""PCM audio as L16 RTP payloads (RFC 3551 section 4.5.11) for the ``audio`` type.

L16 is uncompressed signed 16-bit audio in network byte order (big-endian), channels
interleaved, on a clock of the sample rate. The handler hands over little-endian PCM
(``bytes``, as the rtsp trigger gives it, or an ``int16`` array of shape ``(samples,)`` or
``(samples, channels)``); each piece is byte-swapped and cut into packets of about 20 ms
that stay under the 1400-byte payload limit, never splitting a sample frame.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dh_serverless.sinks.rtsp.rtp import MAX_PAYLOAD

__all__ = ("L16_PAYLOAD_TYPE", "L16Packetizer")

#: the dynamic payload type of the L16 track (its rtpmap names rate and channels)
L16_PAYLOAD_TYPE = 97


class L16Packetizer:
    """Cuts little-endian PCM into L16 payloads of whole sample frames.

    :param rate: samples per second (the RTP clock).
    :param channels: interleaved channels.
    :param ptime: the wanted packet duration in seconds (RFC 3551's 20 ms default).
    """

    __slots__ = ("_pending", "channels", "frame_bytes", "packet_bytes", "rate")

    def __init__(self, rate: int, channels: int, ptime: float = 0.02) -> None:
        self.rate = rate
        self.channels = channels
        self.frame_bytes = 2 * channels
        samples = max(1, min(int(rate * ptime), MAX_PAYLOAD // self.frame_bytes))
        self.packet_bytes = samples * self.frame_bytes
        self._pending = b""

    def pcm(self, body: Any) -> bytes:
        """``body`` as little-endian 16-bit PCM bytes.

        :raises ValueError: for anything that is not PCM of this sink's channel count.
        """
        if isinstance(body, np.ndarray):
            if body.dtype.kind != "i" or body.dtype.itemsize != 2:
                raise ValueError(f"expected an int16 array, got {body.dtype}")
            if body.ndim == 2 and body.shape[1] != self.channels:
                raise ValueError(
                    f"expected {self.channels} channel(s), got an array of shape {body.shape}"
                )
            if body.ndim not in (1, 2):
                raise ValueError(f"expected a 1-D or 2-D array, got shape {body.shape}")
            return body.astype("<i2", copy=False).tobytes()
        if isinstance(body, bytes | bytearray | memoryview):
            return bytes(body)
        raise ValueError(f"expected PCM bytes or an int16 array, got {type(body).__name__}")

    def payloads(self, body: Any) -> tuple[list[bytes], int]:
        """The L16 payloads of ``body`` and how many sample frames they hold.

        An odd trailing byte or partial sample frame waits for the next piece.
        """
        data = self._pending + self.pcm(body)
        whole = len(data) - len(data) % self.frame_bytes
        self._pending = data[whole:]
        if not whole:
            return [], 0
        swapped = np.frombuffer(data, dtype="<i2", count=whole // 2).astype(">i2").tobytes()
        step = self.packet_bytes
        out = [swapped[i : i + step] for i in range(0, whole, step)]
        return out, whole // self.frame_bytes
