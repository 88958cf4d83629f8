"""Observer, failure modes, shutdown, concurrency and processes against a real Envoy."""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest


@pytest.mark.parametrize("observability_mode", [True, False])
def test_observer_sees_every_request_of_a_burst_and_adds_no_latency(
    fresh_stack, tmp_path, observability_mode
):
    gate = tmp_path / "gate"
    with fresh_stack() as s:
        processor = s.processor("observeprocessor", workers=4)
        # Without Envoy's observability_mode Envoy waits for each reply: the trigger
        # answers at once and runs the handler later.
        changes = {"observability_mode": observability_mode}
        envoy = s.envoy("observeprocessor", [processor.port], filter_changes=changes)
        # Every handler call waits for `gate`; the clients get all their answers before
        # it exists, so none of them waited for the handler.
        headers = {"x-test": f"gate:{gate}"}
        with ThreadPoolExecutor(8) as pool:
            replies = list(
                pool.map(
                    lambda i: envoy.request("POST", f"/o/{i}", body=b"seen", headers=headers),
                    range(40),
                )
            )
        assert [r.status for r in replies] == [200] * 40
        assert not gate.exists()
        gate.touch()
        deadline = time.monotonic() + 20
        while len(processor.calls()) < 80 and time.monotonic() < deadline:
            time.sleep(0.05)
        calls = processor.calls()
        request_calls = sorted(c["path"] for c in calls if c["phase"] == 2)
        assert request_calls == sorted(f"/o/{i}" for i in range(40))
        assert all(c["body"] == "seen" for c in calls if c["phase"] == 2)
        assert len([c for c in calls if c["phase"] == 5]) == 40


def test_observer_queue_is_bounded_and_drops_are_counted(fresh_stack, tmp_path):
    gate = tmp_path / "gate"
    with fresh_stack() as s:
        processor = s.processor(
            "observeprocessor",
            workers=1,
            attributes="        processingOptions: {observeQueueSize: 2}\n",
        )
        envoy = s.envoy("observeprocessor", [processor.port])
        for i in range(10):
            assert envoy.request("GET", f"/d/{i}", headers={"x-test": f"gate:{gate}"}).status == 200
        # Envoy's send-and-go messages arrive on their own time: wait for the count.
        deadline = time.monotonic() + 15
        dropped = 0.0
        while dropped == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
            dropped = sum(
                float(line.rsplit(" ", 1)[1])
                for line in processor.metrics().splitlines()
                if line.startswith("dh_extproc_messages_total") and 'outcome="dropped"' in line
            )
        # one event runs (blocked), two wait; the others are dropped, never queued
        assert dropped >= 1
        gate.touch()


def test_processor_stopped_envoy_fails_closed_or_open(fresh_stack):
    with fresh_stack() as s:
        processor = s.processor("wrapprocessor")
        closed = s.envoy("wrapprocessor", [processor.port])
        open_ = s.envoy(
            "wrapprocessor", [processor.port], filter_changes={"failure_mode_allow": True}
        )
        assert closed.request("GET", "/").status == 200
        assert processor.stop() == 0
        assert closed.request("GET", "/").status == 503  # status_on_error of the contrib config
        reply = open_.request("GET", "/")
        assert reply.status == 200
        assert json.loads(reply.body)["Path"] == "/"


def test_observer_needs_failure_mode_allow(fresh_stack, harness):
    # G14: observability mode does not protect against a dead processor.
    with fresh_stack() as s:
        dead = harness.free_port()
        strict = s.envoy("observeprocessor", [dead], filter_changes={"failure_mode_allow": False})
        assert strict.request("GET", "/").status == 500
        contrib = s.envoy("observeprocessor", [dead])
        assert contrib.request("GET", "/").status == 200


def test_sigterm_finishes_streams_in_flight(fresh_stack, tmp_path):
    started = tmp_path / "started"
    with fresh_stack() as s:
        processor = s.processor("wrapprocessor")
        envoy = s.envoy("wrapprocessor", [processor.port])
        with ThreadPoolExecutor(1) as pool:
            future = pool.submit(
                envoy.request, "POST", "/slow", body=b"in flight",
                headers={"x-test": f"slow:{started}:1.0"},
            )  # fmt: skip
            deadline = time.monotonic() + 10
            while not started.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            assert started.exists()
            processor.proc.send_signal(signal.SIGTERM)
            reply = future.result(15)
        assert reply.status == 200, reply
        assert json.loads(reply.body)["Body"] == "in flight - slow"
        assert processor.proc.wait(15) == 0
        # The processor is gone: new requests fail closed.
        assert envoy.request("GET", "/").status == 503


def test_many_streams_at_once_on_one_connection(fresh_stack, tmp_path):
    # G13: grpc.aio holds no thread per stream; 40 requests are in the handler together.
    counter = tmp_path / "count"
    counter.touch()
    with fresh_stack() as s:
        processor = s.processor("preprocessor", workers=64)
        envoy = s.envoy("preprocessor", [processor.port])
        headers = {"x-test": f"concurrent:{counter}:40"}
        with ThreadPoolExecutor(40) as pool:
            replies = list(
                pool.map(lambda i: envoy.request("GET", "/", headers=headers), range(40))
            )
        assert [r.status for r in replies] == [200] * 40
        assert envoy.stats()["streams_started"] >= 40


def test_processes_2_serves_two_ports_and_stops_both(fresh_stack):
    with fresh_stack() as s:
        processor = s.processor("wrapprocessor", processes=2, attributes="        processes: 2\n")
        envoy = s.envoy("wrapprocessor", [processor.port, processor.port + 1])
        for _ in range(10):
            reply = envoy.request("POST", "/two", body=b"x", headers={"x-test": "upper"})
            assert json.loads(reply.body)["BODY"] == "X"
        with urllib.request.urlopen(f"http://127.0.0.1:{envoy.admin}/clusters") as r:
            clusters = r.read().decode().splitlines()
        per_port = {
            line.split("::")[1]: int(line.rsplit("::", 1)[1])
            for line in clusters
            if line.startswith("extproc::") and "::rq_total::" in line
        }
        assert len(per_port) == 2
        assert all(count >= 3 for count in per_port.values()), per_port  # round robin
        children = psutil.Process(processor.proc.pid).children()
        assert len(children) == 1
        assert processor.stop() == 0
        assert not psutil.pid_exists(children[0].pid) or children[0].status() == "zombie"


def test_processes_copy_stops_when_the_main_process_dies(fresh_stack):
    with fresh_stack() as s:
        processor = s.processor("preprocessor", processes=2, attributes="        processes: 2\n")
        child = psutil.Process(processor.proc.pid).children()[0]
        processor.stop(signal.SIGKILL)
        gone, _ = psutil.wait_procs([child], timeout=10)
        assert gone
