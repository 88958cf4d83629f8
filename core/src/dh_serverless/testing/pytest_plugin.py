"""pytest fixtures for testing Nuclio handlers (loaded automatically with dh-serverless-core).

Loading it also makes ``ast.parse`` safe to re-enter from a finalizer (see
:func:`parse_with_collector_paused`), so pytest reports a failing test instead of dying
in an ``INTERNALERROR`` while it formats the traceback.
"""

from __future__ import annotations

import ast
import functools
import gc
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from dh_serverless.testing import Platform

#: ``ast.parse`` as the standard library defines it.
REAL_AST_PARSE = ast.parse
_paused_lock = threading.Lock()
_pausing = 0  # how many ast.parse calls (any thread) run with the collector paused by us


@functools.wraps(REAL_AST_PARSE)
def parse_with_collector_paused(*args: Any, **kwargs: Any) -> Any:
    """``ast.parse`` with the cyclic garbage collector paused while it runs.

    CPython 3.11 counts the AST builder's recursion in one counter per interpreter. When
    the collector runs in the middle of ``ast.parse`` and a finalizer parses too (a logged
    traceback does, for its ``^^^`` marks, and asyncio logs one from the finalizer of every
    task whose exception nobody retrieved), the nested parse resets the counter and the
    outer one fails with ``SystemError: AST constructor recursion depth mismatch``. pytest
    parses a failing test's source to format its traceback, so that error became an
    ``INTERNALERROR`` that ended the run and hid the failure. With the collector paused no
    finalizer can run inside a parse; the garbage is collected after it, as usual. A caller
    that disabled the collector itself keeps it disabled.
    """
    global _pausing
    with _paused_lock:
        pause = _pausing > 0 or gc.isenabled()
        if pause:
            _pausing += 1
            gc.disable()
    try:
        return REAL_AST_PARSE(*args, **kwargs)
    finally:
        if pause:
            with _paused_lock:
                _pausing -= 1
                if _pausing == 0:
                    gc.enable()


ast.parse = parse_with_collector_paused


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
