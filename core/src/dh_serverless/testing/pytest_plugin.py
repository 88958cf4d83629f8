"""pytest fixtures for testing Nuclio handlers (loaded automatically with dh-serverless-core)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from dh_serverless.testing import Platform


@pytest.fixture
def dh_platform() -> Iterator[Platform]:
    """A :class:`dh_serverless.testing.Platform`, closed after the test."""
    platform = Platform()
    try:
        yield platform
    finally:
        platform.close()


@pytest.fixture
async def dh_sink_function(
    tmp_path: Path,
) -> AsyncIterator[Callable[..., Coroutine[Any, Any, Any]]]:
    """``await dh_sink_function(sink, wait=True, workers=1)``: a running
    :class:`dh_serverless.testing.processes.SinkFunction`, killed after the test."""
    from dh_serverless.testing.processes import SinkFunction

    started: list[SinkFunction] = []

    async def start(sink: dict[str, Any], *, wait: bool = True, workers: int = 1) -> SinkFunction:
        folder = tmp_path / f"fn{len(started)}"
        folder.mkdir()
        function = SinkFunction(folder, sink, workers=workers)
        started.append(function)
        if wait:
            await function.wait_ready()
        return function

    try:
        yield start
    finally:
        for function in started:
            await function.close()
