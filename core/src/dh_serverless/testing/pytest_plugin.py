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
from typing import Any, TypeVar, cast

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

F = TypeVar("F", bound=Callable[..., Any])


def _async_fixture(function: F) -> F:
    """An async fixture that pytest-asyncio runs in its strict mode too."""
    try:
        from pytest_asyncio import fixture
    except ImportError:  # pragma: no cover - without pytest-asyncio no async test runs anyway
        return cast(F, pytest.fixture(function))
    return cast(F, fixture(function))


@pytest.fixture
def dh_platform() -> Iterator[Platform]:
    """A :class:`dh_serverless.testing.Platform`, closed after the test."""
    platform = Platform()
    try:
        yield platform
    finally:
        platform.close()


@_async_fixture
async def dh_sink_function() -> AsyncIterator[Callable[..., Coroutine[Any, Any, Any]]]:
    """``await dh_sink_function(sink, workers=1, handler=ECHO, order_wait=None)``: a started
    :class:`~dh_serverless.testing.function.InProcessFunction` whose ``test`` trigger
    ``web`` feeds ``sink`` (``{"kind": ..., "attributes": {...}}``); stopped after the test.

    ``await function.push(body, content_type, frame_num=7)`` sends one event through the
    echo handler (its ``status`` field is the answer's status, path ``/raise`` raises), so
    the sink receives what was pushed; ``order_wait`` (seconds) makes the sink receive
    results in push order, as the mjpeg trigger asks. A start that fails raises the
    ``UserError`` ``dh-serverless run`` would print.
    """
    from dh_serverless.testing.function import InProcessFunction
    from dh_serverless.testing.handlers import ECHO

    started: list[InProcessFunction] = []

    async def start(
        sink: dict[str, Any],
        *,
        workers: int = 1,
        handler: str | Callable[..., Any] = ECHO,
        order_wait: float | None = None,
        spec: dict[str, Any] | None = None,
    ) -> InProcessFunction:
        attributes: dict[str, Any] = {"sink": sink}
        if order_wait is not None:
            attributes["sinkOrderWait"] = order_wait
        trigger = {"kind": "test", "maxWorkers": workers, "attributes": attributes}
        function = InProcessFunction({"web": trigger}, handler=handler, spec=spec)
        started.append(function)
        return await function.start()

    try:
        yield start
    finally:
        for function in started:
            await function.stop()


@_async_fixture
async def dh_trigger_function() -> AsyncIterator[Callable[..., Coroutine[Any, Any, Any]]]:
    """``await dh_trigger_function(kind, attributes, handler=ECHO, workers=1, name=kind)``:
    a started :class:`~dh_serverless.testing.function.InProcessFunction` serving the
    installed trigger ``kind`` with ``attributes`` (as in ``function.yaml``); stopped
    (drained as on SIGTERM) after the test.

    ``function.port`` is the port the trigger bound (give it ``port: 0``),
    ``function.metric("dh_events", outcome="ok")`` reads what ``/metrics`` shows,
    ``function.trigger()`` is the trigger object and ``function.log()`` what it logged.
    A start that fails raises the ``UserError`` ``dh-serverless run`` would print.
    """
    from dh_serverless.testing.function import InProcessFunction
    from dh_serverless.testing.handlers import ECHO

    started: list[InProcessFunction] = []

    async def start(
        kind: str,
        attributes: dict[str, Any] | None = None,
        *,
        handler: str | Callable[..., Any] = ECHO,
        workers: int = 1,
        name: str | None = None,
        spec: dict[str, Any] | None = None,
    ) -> InProcessFunction:
        trigger = {"kind": kind, "maxWorkers": workers, "attributes": attributes or {}}
        function = InProcessFunction({name or kind: trigger}, handler=handler, spec=spec)
        started.append(function)
        return await function.start()

    try:
        yield start
    finally:
        for function in started:
            await function.stop()
