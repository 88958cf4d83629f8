"""Start an http trigger on 127.0.0.1 with a fake ``dispatch`` the test controls."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import attrs
import pytest

from dh_serverless.hookspecs import Event, FunctionInfo, Response, TriggerSpec
from dh_serverless.triggers.http import CorsConfig, HttpAttributes, HttpTrigger


class Recorder:
    """A ``dispatch`` that records each event and answers with ``respond(event)``."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        #: set by a test to answer differently (or raise)
        self.respond: Callable[[Event], Awaitable[Response]] | None = None

    async def __call__(self, event: Event) -> Response:
        self.events.append(event)
        if self.respond is not None:
            return await self.respond(event)
        return Response(body=b"ok", content_type="text/plain")

    @property
    def event(self) -> Event:
        assert len(self.events) == 1, f"expected one event, got {len(self.events)}"
        return self.events[0]


def make_spec(attributes: HttpAttributes | None = None, **changes: Any) -> TriggerSpec:
    base = HttpAttributes(port=0, host="127.0.0.1")
    if attributes is not None:
        base = attributes
    if changes:
        if isinstance(changes.get("cors"), dict):
            changes["cors"] = CorsConfig(**changes["cors"])
        base = attrs.evolve(base, **changes)
    return TriggerSpec(name="web", kind="http", attributes=base, function=FunctionInfo("fn"))


@contextlib.asynccontextmanager
async def running(
    dispatch: Callable[[Event], Awaitable[Response]], **changes: Any
) -> AsyncIterator[tuple[HttpTrigger, str]]:
    trigger = HttpTrigger(make_spec(**changes))
    await trigger.start(dispatch)
    try:
        yield trigger, f"http://127.0.0.1:{trigger.port}"
    finally:
        await trigger.stop(1.0)


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield session


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def serve() -> Callable[..., contextlib.AbstractAsyncContextManager[tuple[HttpTrigger, str]]]:
    """``async with serve(dispatch, **attribute_changes) as (trigger, base_url)``."""
    return running


@pytest.fixture
def spec_factory() -> Callable[..., TriggerSpec]:
    """``spec_factory(**attribute_changes)``: a TriggerSpec for 127.0.0.1, port 0."""
    return make_spec
