"""Shared fixtures: an in-process trigger and a runtime factory that needs no plugin installed."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest

from dh_serverless.core.config import load_function_config
from dh_serverless.core.plugins import SINKS, TRIGGERS, PluginHost
from dh_serverless.core.runtime import Runtime
from dh_serverless.hookspecs import Dispatch, Event, Response, SinkSpec, TriggerSpec


@attrs.frozen
class DirectAttributes:
    label: str = ""


class DirectTrigger:
    """A trigger the test drives by calling ``send``; every instance is kept in ``started``."""

    attributes_type = DirectAttributes
    kind = "direct"
    started: ClassVar[list[DirectTrigger]] = []

    def __init__(self, spec: TriggerSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.dispatch: Dispatch | None = None
        self.stopped_with: float | None = None
        DirectTrigger.started.append(self)

    async def start(self, dispatch: Dispatch) -> None:
        self.dispatch = dispatch

    async def send(self, body: Any = b"", **kwargs: Any) -> Response:
        assert self.dispatch is not None
        return await self.dispatch(
            Event(body=body, size=len(body) if isinstance(body, bytes) else 0, **kwargs)
        )

    async def stop(self, timeout: float) -> None:
        self.stopped_with = timeout


@attrs.frozen
class ListAttributes:
    capacity: int = 10


class ListSink:
    """A sink that appends what it receives to ``items``."""

    attributes_type = ListAttributes
    kind = "list"
    instances: ClassVar[list[ListSink]] = []

    def __init__(self, spec: SinkSpec) -> None:
        self.spec = spec
        self.items: list[tuple[bytes, Any]] = []
        self.running = False
        ListSink.instances.append(self)

    async def start(self) -> None:
        self.running = True

    async def emit(self, response: Response, event: Event) -> None:
        self.items.append((response.body, event.body))

    async def stop(self) -> None:
        self.running = False


@pytest.fixture
def host() -> PluginHost:
    plugin_host = PluginHost()
    plugin_host.provide(TRIGGERS, "direct", DirectTrigger)
    plugin_host.provide(SINKS, "list", ListSink)
    DirectTrigger.started.clear()
    ListSink.instances.clear()
    return plugin_host


FunctionFactory = Callable[..., Path]


@pytest.fixture
def function_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FunctionFactory:
    """Write ``<module>.py`` and ``function.yaml`` into tmp_path; return the yaml path."""
    import sys

    counter = iter(range(10_000))

    def make(code: str, spec: str, module: str | None = None) -> Path:
        name = module or f"fn_{next(counter)}_{abs(hash(str(tmp_path))) % 10_000}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(code))
        path = tmp_path / "function.yaml"
        path.write_text(textwrap.dedent(spec).replace("MODULE", name))
        monkeypatch.setattr(sys, "path", list(sys.path))
        return path

    return make


@pytest.fixture
async def runtime_for(host: PluginHost) -> AsyncIterator[Callable[..., Any]]:
    """Start a Runtime (no health server) for a function.yaml; shut it down afterwards."""
    runtimes: list[Runtime] = []

    async def start(path: Path, **kwargs: Any) -> Runtime:
        runtime = Runtime(load_function_config(path), path, health_port=None, host=host, **kwargs)
        runtimes.append(runtime)
        await runtime.start()
        return runtime

    yield start
    for runtime in runtimes:
        await runtime.shutdown()
