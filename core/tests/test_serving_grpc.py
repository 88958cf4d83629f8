"""The gRPC listener, with a real grpc.aio client on 127.0.0.1: health, reflection, limits,
bind errors, graceful stop."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from dh_serverless.core.api import GrpcListener
from dh_serverless.testing.ports import free_port

pytestmark = pytest.mark.timeout(30)

SERVICE = "test.Echo"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class Echo:
    """``test.Echo/Say``: bytes in, bytes out; ``b"wait"`` waits for :attr:`release`."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.waiting = asyncio.Event()
        self.finished: list[bytes] = []

    async def say(self, request: bytes, context: Any) -> bytes:
        if request == b"wait":
            self.waiting.set()
            await self.release.wait()
        self.finished.append(request)
        return request.upper()

    def register(self, listener: GrpcListener) -> None:
        handler = grpc.unary_unary_rpc_method_handler(self.say)  # raw bytes both ways
        listener.server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE, {"Say": handler}),)
        )


def say(channel: grpc.aio.Channel) -> Any:
    return channel.unary_unary(f"/{SERVICE}/Say")


async def health(channel: grpc.aio.Channel, service: str) -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
    return reply.status


async def services(channel: grpc.aio.Channel) -> set[str]:
    call = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo()
    await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
    answer = await call.read()
    await call.done_writing()
    return {s.name for s in answer.list_services_response.service}


async def test_serves_on_the_port_the_os_gave_with_health_and_reflection():
    echo = Echo()
    listener = GrpcListener("127.0.0.1", 0)
    echo.register(listener)
    port = await listener.start([SERVICE])
    try:
        assert port > 0
        assert listener.port == port
        assert listener.address == f"127.0.0.1:{port}"
        async with grpc.aio.insecure_channel(listener.address) as channel:
            assert await say(channel)(b"hi", timeout=5) == b"HI"
            assert await health(channel, "") == SERVING
            assert await health(channel, SERVICE) == SERVING
            assert SERVICE in await services(channel)
            assert "grpc.health.v1.Health" in await services(channel)
    finally:
        await listener.stop(1.0)


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling policies")
async def test_grpc_aio_poller_thread_is_batch_scheduled_and_the_loop_is_not():
    listener = GrpcListener("127.0.0.1", 0)
    Echo().register(listener)
    await listener.start([SERVICE])
    try:
        pollers = [t for t in threading.enumerate() if t.name.endswith("(_poll_wrapper)")]
        assert pollers, [t.name for t in threading.enumerate()]
        assert all(os.sched_getscheduler(t.native_id) == os.SCHED_BATCH for t in pollers)
        assert os.sched_getscheduler(0) == os.SCHED_OTHER
        async with grpc.aio.insecure_channel(listener.address) as channel:
            assert await say(channel)(b"hi", timeout=5) == b"HI"
    finally:
        await listener.stop(1.0)


async def test_registered_methods_are_served_and_win_over_generic_handlers():
    # What generated add_*_to_server code does: generic and registered handlers, both.
    echo = Echo()
    listener = GrpcListener("127.0.0.1", 0)
    echo.register(listener)

    async def lower(request: bytes, context: Any) -> bytes:
        return request.lower()

    listener.server.add_registered_method_handlers(
        SERVICE,
        {
            "Say": grpc.unary_unary_rpc_method_handler(lower),
            "Whisper": grpc.unary_unary_rpc_method_handler(lower),
        },
    )
    await listener.start([SERVICE])
    try:
        async with grpc.aio.insecure_channel(listener.address) as channel:
            assert await say(channel)(b"Hi", timeout=5) == b"hi"
            whisper = channel.unary_unary(f"/{SERVICE}/Whisper")
            assert await whisper(b"QUIET", timeout=5) == b"quiet"
            missing = channel.unary_unary(f"/{SERVICE}/Missing")
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await missing(b"x", timeout=5)
            assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
            assert await health(channel, SERVICE) == SERVING  # health registers its own
    finally:
        await listener.stop(1.0)


async def test_a_taken_port_is_an_error_naming_the_address_and_the_reason():
    first = GrpcListener("127.0.0.1", 0)
    port = await first.start()
    try:
        second = GrpcListener("127.0.0.1", port)
        with pytest.raises(
            OSError, match=rf"cannot listen on 127\.0\.0\.1:{port} \(gRPC\): .*in use"
        ):
            await second.start()
        await second.stop(0)  # after a failed start: nothing to do
        await GrpcListener("127.0.0.1", 0).stop(0)  # before start: nothing to do
        with pytest.raises(RuntimeError, match="already started"):
            await first.start()
    finally:
        await first.stop(1.0)


async def test_reuse_port_lets_serving_processes_share_one_port_on_purpose():
    with pytest.raises(OSError, match=r"127\.0\.0\.1:0 \(gRPC\): port 0 cannot be shared"):
        await GrpcListener("127.0.0.1", 0, reuse_port=True).start()
    port = free_port()
    first = GrpcListener("127.0.0.1", port, reuse_port=True)
    assert await first.start() == port
    second = GrpcListener("127.0.0.1", port, reuse_port=True)
    try:
        assert await second.start() == port
    finally:
        await second.stop(0)
        await first.stop(0)


async def test_a_message_over_the_limit_is_refused():
    echo = Echo()
    listener = GrpcListener("127.0.0.1", 0, max_message_bytes=1024)
    echo.register(listener)
    await listener.start([SERVICE])
    try:
        async with grpc.aio.insecure_channel(listener.address) as channel:
            assert await say(channel)(b"x" * 1000, timeout=5) == b"X" * 1000
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await say(channel)(b"x" * 2000, timeout=5)
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        await listener.stop(1.0)


async def test_stop_reports_not_serving_and_lets_a_call_in_flight_finish():
    echo = Echo()
    listener = GrpcListener("127.0.0.1", 0)
    echo.register(listener)
    await listener.start([SERVICE])
    async with grpc.aio.insecure_channel(listener.address) as channel:
        call = asyncio.ensure_future(say(channel)(b"wait", timeout=10))
        await asyncio.wait_for(echo.waiting.wait(), 5)
        stopping = asyncio.ensure_future(listener.stop(5.0))
        await asyncio.sleep(0.2)
        assert not stopping.done()
        echo.release.set()
        assert await call == b"WAIT"  # finished within the grace
        await asyncio.wait_for(stopping, 5)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await say(channel)(b"late", timeout=2)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_health_turns_not_serving_when_the_stop_begins():
    listener = GrpcListener("127.0.0.1", 0)
    await listener.start([SERVICE])
    async with grpc.aio.insecure_channel(listener.address) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service=SERVICE)
        )
        assert (await watch.read()).status == SERVING
        stopping = asyncio.ensure_future(listener.stop(2.0))
        assert (await asyncio.wait_for(watch.read(), 5)).status == NOT_SERVING
        watch.cancel()
        await stopping


async def test_stop_cancels_a_call_past_the_grace():
    echo = Echo()
    listener = GrpcListener("127.0.0.1", 0)
    echo.register(listener)
    await listener.start([SERVICE])
    async with grpc.aio.insecure_channel(listener.address) as channel:
        call = asyncio.ensure_future(say(channel)(b"wait", timeout=10))
        await asyncio.wait_for(echo.waiting.wait(), 5)
        await asyncio.wait_for(listener.stop(0.2), 5)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call
        assert info.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
    assert echo.finished == []


async def test_ipv6_addresses_are_written_in_brackets():
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this host")
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("::1 cannot be bound here")
    echo = Echo()
    listener = GrpcListener("::1", 0)
    echo.register(listener)
    port = await listener.start([SERVICE])
    try:
        assert listener.address == f"[::1]:{port}"
        async with grpc.aio.insecure_channel(listener.address) as channel:
            assert await say(channel)(b"six", timeout=5) == b"SIX"
    finally:
        await listener.stop(1.0)
