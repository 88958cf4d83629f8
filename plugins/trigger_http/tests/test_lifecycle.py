"""start/stop, graceful drain, and how the core finds the trigger."""

from __future__ import annotations

import asyncio
import importlib.metadata
import socket
import time

import aiohttp
import pluggy
import pytest

from dh_serverless.core.converter import make_converter
from dh_serverless.hookspecs import Response, Trigger, specs
from dh_serverless.triggers.http import HttpAttributes, HttpTrigger
from dh_serverless.triggers.http import trigger as trigger_module
from dh_serverless.triggers.http.config import Names


async def _slow(recorder, seconds):
    entered = asyncio.Event()
    outcome: list[str] = []

    async def respond(event):
        entered.set()
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise
        outcome.append("finished")
        return Response(body=b"slow done")

    recorder.respond = respond
    return entered, outcome


async def test_stop_lets_in_flight_requests_finish_and_refuses_new_connections(serve, recorder):
    entered, outcome = await _slow(recorder, 0.3)
    async with serve(recorder) as (trigger, url), aiohttp.ClientSession() as client:
        request = asyncio.create_task(client.get(url))
        await asyncio.wait_for(entered.wait(), 5)
        stopping = asyncio.create_task(trigger.stop(5.0))
        await asyncio.sleep(0.05)
        with pytest.raises(aiohttp.ClientConnectionError):
            async with aiohttp.ClientSession() as fresh:
                await fresh.get(url)
        resp = await asyncio.wait_for(request, 5)
        assert resp.status == 200
        assert await resp.read() == b"slow done"
        assert resp.headers.get("Connection") == "close"
        started = time.monotonic()
        await asyncio.wait_for(stopping, 5)
        assert time.monotonic() - started < 1.0
    assert outcome == ["finished"]


async def test_stop_cancels_what_outlives_the_timeout(serve, recorder):
    entered, outcome = await _slow(recorder, 30)
    async with serve(recorder) as (trigger, url), aiohttp.ClientSession() as client:
        request = asyncio.create_task(client.get(url))
        await asyncio.wait_for(entered.wait(), 5)
        started = time.monotonic()
        await trigger.stop(0.2)
        assert time.monotonic() - started < 2.0
        with pytest.raises(aiohttp.ClientError):
            await asyncio.wait_for(request, 5)
    assert outcome == ["cancelled"]


async def test_stop_with_idle_keep_alive_connections_is_quick(serve, recorder, client):
    async with serve(recorder) as (trigger, url):
        for _ in range(3):
            async with client.get(url) as resp:
                assert resp.status == 200
        started = time.monotonic()
        await trigger.stop(5.0)
        assert time.monotonic() - started < 0.5
        await trigger.stop(5.0)  # a second stop does nothing


async def test_port_zero_picks_a_free_port_and_start_twice_fails(serve, recorder):
    async with serve(recorder) as (trigger, _):
        assert trigger.port > 0
        assert trigger.attributes.port == 0
        with pytest.raises(RuntimeError, match="already started"):
            await trigger.start(recorder)


async def test_port_in_use_names_the_address(serve, recorder, spec_factory):
    async with serve(recorder) as (first, _):
        second = HttpTrigger(spec_factory(port=first.port))
        with pytest.raises(OSError, match=f"127.0.0.1:{first.port}"):
            await second.start(recorder)


async def test_listens_on_the_configured_port(serve, recorder, client):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with serve(recorder, port=port) as (trigger, url):
        assert trigger.port == port
        assert url.endswith(f":{port}")
        async with client.get(url) as resp:
            assert resp.status == 200


def test_trigger_satisfies_the_protocol(spec_factory):
    trigger = HttpTrigger(spec_factory())
    assert isinstance(trigger, Trigger)
    assert HttpTrigger.kind == "http"
    assert HttpTrigger.attributes_type is HttpAttributes
    assert trigger.name == "web"


def test_entry_point():
    (ep,) = [e for e in importlib.metadata.entry_points(group="dh_serverless.triggers")
             if e.name == "http"]  # fmt: skip
    assert ep.value == "dh_serverless.triggers.http:HttpTrigger"
    assert ep.load() is HttpTrigger


def test_register_converters_hook():
    manager = pluggy.PluginManager("dh_serverless")
    manager.add_hookspecs(specs)
    manager.register(trigger_module)  # the core registers the module of the trigger class
    manager.check_pending()
    converter = make_converter()
    manager.hook.dh_register_converters(converter=converter)
    assert converter.structure("GET, POST", Names) == ("GET", "POST")
