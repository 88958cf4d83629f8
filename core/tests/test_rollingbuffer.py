"""RollingBuffer: the window of recent stream bytes (websocket stream mode, rtsp audio)."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dh_serverless.core.rollingbuffer import RollingBuffer


def test_ready_after_chunk_bytes_and_take_returns_whole_window() -> None:
    buffer = RollingBuffer(chunk_bytes=4, max_bytes=10, trim_bytes=6)
    buffer.append(b"abc")
    assert not buffer.ready
    buffer.append(b"d")
    assert buffer.ready
    assert buffer.take() == b"abcd"
    assert not buffer.ready
    assert buffer.new_bytes == 0
    buffer.append(b"efgh")
    assert buffer.take() == b"abcdefgh"  # the window overlaps the previous one


def test_overflow_drops_trim_bytes_from_the_front() -> None:
    buffer = RollingBuffer(chunk_bytes=1, max_bytes=10, trim_bytes=6)
    buffer.append(b"0123456789")
    assert buffer.size == 10
    assert buffer.trimmed_bytes == 0
    buffer.append(b"A")  # 11 > 10: drop 6
    assert buffer.take() == b"6789A"
    assert buffer.trimmed_bytes == 6
    # Nothing had been taken before the trim: those 6 bytes were never handed out.
    assert buffer.dropped_bytes == 6


def test_bytes_already_handed_out_are_trimmed_but_not_counted_as_dropped() -> None:
    buffer = RollingBuffer(chunk_bytes=1, max_bytes=10, trim_bytes=6)
    buffer.append(b"0123456789")
    buffer.take()
    buffer.append(b"AB")
    assert buffer.take() == b"6789AB"
    assert (buffer.trimmed_bytes, buffer.dropped_bytes) == (6, 0)


def test_one_append_larger_than_max_keeps_the_newest_bytes() -> None:
    buffer = RollingBuffer(chunk_bytes=2, max_bytes=10, trim_bytes=4)
    buffer.append(bytes(range(25)))  # 15 too many: four steps of 4 go
    assert buffer.take() == bytes(range(16, 25))
    assert buffer.dropped_bytes == buffer.trimmed_bytes == 16


def test_memoryview_and_bytearray_are_accepted_and_empty_appends_ignored() -> None:
    buffer = RollingBuffer(chunk_bytes=4, max_bytes=8, trim_bytes=4)
    buffer.append(memoryview(b"ab"))
    buffer.append(bytearray(b"cd"))
    buffer.append(b"")
    assert buffer.ready
    assert buffer.take() == b"abcd"


def test_clear_forgets_the_window_and_keeps_counters() -> None:
    buffer = RollingBuffer(chunk_bytes=1, max_bytes=4, trim_bytes=2)
    buffer.append(b"abcde")
    buffer.clear()
    assert (buffer.size, buffer.new_bytes, buffer.ready) == (0, 0, False)
    assert buffer.trimmed_bytes == 2


@pytest.mark.parametrize(
    ("chunk", "max_", "trim", "message"),
    [
        (0, 10, 5, "chunk_bytes must be a positive integer, got 0"),
        (1, -1, 5, "max_bytes must be a positive integer, got -1"),
        (1, 10, True, "trim_bytes must be a positive integer, got True"),
        (1, 10, 11, "trim_bytes (11) must not be larger than max_bytes (10)"),
        (11, 10, 5, "chunk_bytes (11) must not be larger than max_bytes (10)"),
    ],
)
def test_invalid_sizes_are_refused_with_the_name(chunk, max_, trim, message) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RollingBuffer(chunk, max_, trim)


class Model:
    """The original's rule written plainly, one byte at a time."""

    def __init__(self, chunk: int, max_: int, trim: int) -> None:
        self.chunk, self.max, self.trim = chunk, max_, trim
        self.window: list[tuple[int, bool]] = []  # (byte, taken)
        self.trimmed = self.dropped = 0

    def append(self, data: bytes) -> None:
        self.window += [(b, False) for b in data]
        while len(self.window) > self.max:
            cut = self.window[: self.trim]
            self.window = self.window[self.trim :]
            self.trimmed += len(cut)
            self.dropped += sum(1 for _, taken in cut if not taken)

    @property
    def new(self) -> int:
        return sum(1 for _, taken in self.window if not taken)

    def take(self) -> bytes:
        self.window = [(b, True) for b, _ in self.window]
        return bytes(b for b, _ in self.window)


@settings(max_examples=300, deadline=None)
@given(
    sizes=st.tuples(st.integers(1, 40), st.integers(1, 40), st.integers(1, 40)),
    steps=st.lists(
        st.one_of(st.binary(max_size=120), st.just(None)),
        max_size=40,
    ),
)
def test_matches_the_plain_model(sizes, steps) -> None:
    chunk, max_, trim = sizes
    max_ = max(max_, chunk, trim)
    buffer, model = RollingBuffer(chunk, max_, trim), Model(chunk, max_, trim)
    for step in steps:
        if step is None:
            assert buffer.ready == (model.new >= chunk)
            assert buffer.take() == model.take()
        else:
            buffer.append(step)
            model.append(step)
        assert buffer.size == len(model.window) <= max_
        assert buffer.new_bytes == model.new
        assert (buffer.trimmed_bytes, buffer.dropped_bytes) == (model.trimmed, model.dropped)


def test_appends_from_a_thread_while_taking_lose_no_order() -> None:
    buffer = RollingBuffer(chunk_bytes=1, max_bytes=1 << 20, trim_bytes=1 << 19)
    data = bytes(range(256)) * 400

    def feed() -> None:
        for i in range(0, len(data), 100):
            buffer.append(data[i : i + 100])

    thread = threading.Thread(target=feed)
    thread.start()
    seen = b""
    while thread.is_alive():
        seen = buffer.take()
        assert data.startswith(seen)
    thread.join()
    assert buffer.take() == data
