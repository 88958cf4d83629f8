"""The in-process harness: the ``test`` trigger, ``InProcessFunction``, the fixtures."""

from __future__ import annotations

import asyncio
import socket
from typing import Any, ClassVar

import attrs
import pytest

from dh_serverless.core.errors import ConfigError, UserError
from dh_serverless.hookspecs.errors import ShuttingDownError
from dh_serverless.hookspecs.types import Event, Response
from dh_serverless.testing import MetricNotFound
from dh_serverless.testing.function import InProcessFunction, handler_spec

pytestmark = pytest.mark.timeout(30)


class MemorySink:
    """A sink keeping what it receives (a test defines its own sink class)."""

    @attrs.frozen
    class Attributes:
        delay: float = 0.0

    attributes_type: ClassVar[type] = Attributes
    kind = "memory"
    received: ClassVar[list[tuple[bytes, dict[str, Any]]]] = []

    def __init__(self, spec: Any) -> None:
        self.delay = spec.attributes.delay
        self.counter = spec.metrics.counter("dh_memory_items", "Items kept", ("trigger",))
        self.cell = self.counter.labels(spec.trigger)

    async def start(self) -> None:
        MemorySink.received.clear()

    async def emit(self, response: Response, event: Event) -> None:
        await asyncio.sleep(self.delay)
        MemorySink.received.append((response.body, dict(event.fields)))
        self.cell.inc()

    async def stop(self) -> None:
        pass


class LineTrigger:
    """A TCP trigger: one event per line, answered with the response body (port 0 works)."""

    @attrs.frozen
    class Attributes:
        port: int = 0

    attributes_type: ClassVar[type] = Attributes

    def __init__(self, spec: Any) -> None:
        self.name, self.kind, self.port = spec.name, spec.kind, spec.attributes.port
        self.server: asyncio.Server | None = None

    async def start(self, dispatch: Any) -> None:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            line = await reader.readline()
            response = await dispatch(Event(body=line.strip()))
            writer.write(bytes(response.body) + b"\n")
            await writer.drain()
            writer.close()

        self.server = await asyncio.start_server(serve, "127.0.0.1", self.port)

    async def stop(self, timeout: float) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


def shout(context: Any, event: Event) -> Any:
    return {"shout": event.body.decode().upper(), "fields": event.fields}


def sink_function(**attributes: Any) -> InProcessFunction:
    sink = {"kind": "memory", "attributes": attributes}
    return InProcessFunction(
        {"feed": {"kind": "test", "maxWorkers": 2, "attributes": {"sink": sink}}},
        sink_classes={"memory": MemorySink},
    )


async def test_pushed_events_reach_the_sink_through_the_echo_handler():
    async with sink_function() as function:
        response = await function.push(b"frame", "image/jpeg", frame_num=7)
        assert (response.status_code, response.body) == (200, b"frame")
        assert response.content_type == "image/jpeg"
        assert (await function.push(b"x", path="/raise")).status_code == 500
        assert (await function.push(b"gone", status=404)).status_code == 404
        await function.stop()  # the sink flushes first
    assert MemorySink.received == [(b"frame", {"frame_num": 7})]
    assert function.metric("dh_memory_items", trigger="feed") == 1
    assert function.metric("dh_events", trigger="feed", outcome="ok") == 2
    assert function.metric("dh_events_total", outcome="error") == 1
    assert "function test ready" in function.log()


async def test_an_unknown_metric_or_label_is_an_error_not_zero():
    async with sink_function() as function:
        with pytest.raises(MetricNotFound, match="did you mean dh_memory_items"):
            function.metric("dh_memory_item")
        await function.push(b"a")
        with pytest.raises(MetricNotFound, match="has no label 'trigr'"):
            function.metric("dh_events_total", trigr="feed")


async def test_a_handler_given_as_a_function_and_fields_reach_it():
    function = InProcessFunction({"feed": {"kind": "test"}}, handler=shout)
    async with function:
        response = await function.push("hi", "text/plain", camera="a")
    assert response.body == b'{"shout": "HI", "fields": {"camera": "a"}}'
    with pytest.raises(ValueError, match="module-level"):
        handler_spec(lambda context, event: None)


async def test_sink_order_wait_keeps_push_order():
    ordered = InProcessFunction(
        {"feed": {"kind": "test", "maxWorkers": 4, "attributes": {
            "sink": {"kind": "memory"}, "sinkOrderWait": 2}}},
        handler="dh_serverless.testing.handlers:echo",
        sink_classes={"memory": MemorySink},
    )  # fmt: skip
    async with ordered:
        assert ordered.trigger("feed").sink_order_wait == 2
        await asyncio.gather(*(ordered.push(b"%d" % n, n=n) for n in range(8)))
        await ordered.stop()
    assert [body for body, _ in MemorySink.received] == [b"%d" % n for n in range(8)]


RUNNING: list[bytes] = []
ALL_RUNNING: dict[str, asyncio.Event] = {}  # made in the test's own loop


async def slow_echo(context: Any, event: Event) -> Any:
    RUNNING.append(event.body)
    if len(RUNNING) == 3:
        ALL_RUNNING["three"].set()
    await asyncio.sleep(0.2)
    return event.body


async def test_stop_drains_in_flight_pushes_and_refuses_new_ones():
    RUNNING.clear()
    ALL_RUNNING["three"] = asyncio.Event()
    function = InProcessFunction(
        {"feed": {"kind": "test", "maxWorkers": 3, "attributes": {"sink": {"kind": "memory"}}}},
        handler=slow_echo,
        sink_classes={"memory": MemorySink},
    )
    async with function:
        pushes = [asyncio.ensure_future(function.push(b"%d" % n)) for n in range(3)]
        await asyncio.wait_for(ALL_RUNNING["three"].wait(), 5)  # all three are in the handler
        await function.stop()
        assert [r.status_code for r in await asyncio.gather(*pushes)] == [200] * 3
        with pytest.raises(ShuttingDownError):
            await function.push(b"late")
    assert sorted(body for body, _ in MemorySink.received) == [b"0", b"1", b"2"]


async def test_the_port_a_trigger_bound_for_port_0():
    function = InProcessFunction(
        {"lines": {"kind": "line", "attributes": {"port": 0}}},
        handler=shout,
        trigger_classes={"line": LineTrigger},
    )
    async with function:
        port = function.port
        assert port == function.trigger().server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"hello\n")
        assert b'"shout": "HELLO"' in await reader.readline()
        writer.close()


async def test_a_busy_port_is_the_user_error_the_command_prints():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        function = InProcessFunction(
            {"lines": {"kind": "line", "attributes": {"port": port}}},
            trigger_classes={"line": LineTrigger},
        )
        with pytest.raises(UserError) as info:
            await function.start()
    assert info.value.exit_code == 1
    assert "trigger lines (line) cannot start" in str(info.value)


async def test_bad_attributes_are_the_config_error_of_function_yaml():
    function = InProcessFunction({"feed": {"kind": "test", "attributes": {"sinkOrderWit": 1}}})
    with pytest.raises(ConfigError) as info:
        await function.start()
    assert info.value.exit_code == 2
    assert "spec.triggers.feed.attributes" in str(info.value)


async def test_the_trigger_fixture_serves_an_installed_kind(dh_trigger_function):
    function = await dh_trigger_function("test", {"sinkOrderWait": 1})
    assert (await function.push(b"ok")).body == b"ok"
    assert function.trigger().name == "test"
