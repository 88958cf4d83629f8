"""The trigger test kit: spec factory, fake dispatch, metric reader, bound ports."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from dh_serverless.core.errors import ConfigError
from dh_serverless.hookspecs import Metrics, Response, WorkerBusyError
from dh_serverless.testing import (
    FakeDispatch,
    MetricNotFound,
    make_event,
    read_metric,
    sink_spec,
    trigger_spec,
)
from dh_serverless.testing.function import InProcessFunction
from dh_serverless.testing.ports import free_port
from dh_serverless.testing.processes import stop_process
from dh_serverless.testing.sockets import listening_ports
from dh_serverless.testing.specs import ExitRequests
from dh_serverless.testing.trigger import PushTrigger, PushTriggerAttributes

pytestmark = pytest.mark.timeout(30)


def test_trigger_spec_structures_attributes_as_function_yaml():
    spec = trigger_spec(
        PushTrigger, {"sink_order_wait": 0.5}, name="feed", workers=3, handler="app:run"
    )
    assert (spec.function.name, spec.function.handler) == ("test", "app:run")
    assert spec.attributes == PushTriggerAttributes(sink_order_wait=0.5)
    assert (spec.name, spec.workers, spec.processes, spec.process) == ("feed", 3, 1, 0)
    assert spec.logger.name == "dh_serverless.trigger.feed"
    assert isinstance(spec.metrics, Metrics)
    spec.request_exit(3)
    assert isinstance(spec.request_exit, ExitRequests)
    assert spec.request_exit.codes == [3]


def test_trigger_spec_errors_name_the_key_of_function_yaml():
    with pytest.raises(ConfigError) as info:
        trigger_spec(PushTrigger, {"sinkOrderWiat": 1}, name="feed")
    assert "spec.triggers.feed.attributes" in str(info.value)
    assert "sinkOrderWait" in str(info.value)  # the nearest valid key


def test_specs_of_installed_kinds_by_name():
    pytest.importorskip("dh_serverless.triggers.job")
    assert trigger_spec("job", {}).kind == "job"
    pytest.importorskip("dh_serverless.sinks.webhook")
    spec = sink_spec("webhook", {"url": "http://127.0.0.1:9/hook"}, trigger="cam")
    assert (spec.kind, spec.trigger, spec.attributes.url) == (
        "webhook",
        "cam",
        "http://127.0.0.1:9/hook",
    )


async def test_fake_dispatch_records_and_answers_as_told():
    dispatch = FakeDispatch(lambda event: {"got": event.body.decode()})
    dispatch.answers.extend([Response(body=b"first", status_code=201), WorkerBusyError("busy")])
    first = await dispatch(make_event("a"))
    assert (first.status_code, first.body) == (201, b"first")
    with pytest.raises(WorkerBusyError):
        await dispatch(make_event("b"))
    third = await dispatch(make_event("c"))
    assert third.body == b'{"got": "c"}'
    assert [e.body for e in await dispatch.wait_for(3)] == [b"a", b"b", b"c"]
    assert isinstance(dispatch.outcomes[1], WorkerBusyError)


async def test_fake_dispatch_a_raising_handler_is_the_runtime_500():
    def broken(event):
        raise ValueError("no")

    response = await FakeDispatch(broken)(make_event())
    assert (response.status_code, response.body) == (500, b"ValueError: no")


async def test_fake_dispatch_pause_holds_calls_in_flight():
    dispatch = FakeDispatch(b"ok")
    dispatch.pause()
    calls = [asyncio.ensure_future(dispatch(make_event())) for _ in range(3)]
    await dispatch.wait_until(lambda: dispatch.in_flight == 3)
    assert not any(call.done() for call in calls)
    dispatch.resume()
    assert [r.body for r in await asyncio.gather(*calls)] == [b"ok"] * 3
    assert (dispatch.in_flight, dispatch.max_in_flight) == (0, 3)


async def test_fake_dispatch_wait_for_says_how_many_came():
    with pytest.raises(AssertionError, match="0 event"):
        await FakeDispatch().wait_for(1, timeout=0.05)


def test_read_metric_by_the_name_a_user_writes():
    metrics = Metrics()
    sent = metrics.counter("dh_kit_sent", "Sent", ("peer",))
    sent.labels("a").inc(2)
    sent.labels("b").inc()
    metrics.gauge("dh_kit_peers", "Peers").labels().set(4)
    metrics.histogram("dh_kit_seconds", "Time").labels().observe(0.1)
    assert read_metric(metrics, "dh_kit_sent") == 3
    assert read_metric(metrics, "dh_kit_sent_total", peer="a") == 2
    assert read_metric(metrics, "dh_kit_peers") == 4
    assert read_metric(metrics, "dh_kit_seconds_count") == 1
    with pytest.raises(MetricNotFound, match="did you mean dh_kit_sent"):
        read_metric(metrics, "dh_kit_snet")
    with pytest.raises(MetricNotFound, match="no label 'per'"):
        read_metric(metrics, "dh_kit_sent", per="a")
    with pytest.raises(MetricNotFound, match="is a histogram"):
        read_metric(metrics, "dh_kit_seconds")


def test_free_ports_are_distinct_bindable_and_outside_the_ephemeral_range():
    ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == 50
    assert all(1024 < port < ephemeral for port in ports)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))  # the kernel's pick, from the ephemeral range
        assert taken.getsockname()[1] not in ports
    for port in ports[:5]:
        with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            tcp.bind(("127.0.0.1", port))
            udp.bind(("127.0.0.1", port))


def test_free_port_skips_a_port_in_use(monkeypatch):
    import dh_serverless.testing.ports as ports

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        taken = busy.getsockname()[1]
        monkeypatch.setattr(ports, "_next", iter([taken, *range(ports.FIRST, ports.FIRST + 100)]))
        assert free_port() != taken


def test_listening_ports_of_this_process():
    with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        tcp.bind(("127.0.0.1", 0))
        before = listening_ports()
        tcp.listen()
        udp.bind(("127.0.0.1", 0))
        after = listening_ports()
        assert after - before == {tcp.getsockname()[1], udp.getsockname()[1]}
        assert udp.getsockname()[1] not in listening_ports(udp=False)


def test_listening_ports_of_another_process():
    code = (
        "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen();"
        "print(s.getsockname()[1], flush=True); input()"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        port = int(proc.stdout.readline())
        assert listening_ports(proc.pid) == {port}
    finally:
        stop_process(proc)


async def test_dh_trigger_function_ports(dh_trigger_function):
    function = await dh_trigger_function("test")
    assert isinstance(function, InProcessFunction)
    assert function.ports() == []  # the test trigger binds nothing
    with pytest.raises(LookupError, match="bound 0 ports"):
        _ = function.port


STRICT = """
import pytest


@pytest.mark.asyncio
async def test_pushed(dh_trigger_function):
    function = await dh_trigger_function("test")
    assert (await function.push(b"hi")).body == b"hi"
"""


@pytest.mark.timeout(150)
def test_the_fixtures_work_in_pytest_asyncios_strict_mode(tmp_path):
    (tmp_path / "test_strict.py").write_text(STRICT)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o",
         "asyncio_mode=strict", "-o", "addopts=", str(tmp_path / "test_strict.py")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
