"""Dynamic batching (``max_batch_size``) with real tritonclient clients against
``dh-serverless run``: each client gets its own rows, mixed requests go in separate
batches, a failing batch fails only its own requests, the queue delay and bound, SIGTERM
drains, and the three worker kinds."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.grpc.aio as grpcaio
import tritonclient.http as httpclient
import tritonclient.http.aio as httpaio
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from oi_support import FUNCTIONS, ROOT, Server, function_yaml, oi_trigger, serve
from tritonclient.utils import InferenceServerException

from dh_serverless.core.config import structure
from dh_serverless.core.errors import ConfigError
from dh_serverless.testing import free_port
from dh_serverless.testing.processes import code_blocks
from dh_serverless.triggers.openinference import Batch, OpenInferenceAttributes
from dh_serverless.triggers.openinference._batching import batch_key, merge
from dh_serverless.triggers.openinference._request import (
    InputTensor,
    ParsedRequest,
    RequestedOutput,
)
from dh_serverless.triggers.openinference.datatypes import DATATYPES

HANDLERS = FUNCTIONS / "batch_handlers.py"


def batched_server(
    folder, handler: str, *, workers: int = 2, spec: dict[str, Any] | None = None, **attributes
):
    rest, grpc_port = free_port(), free_port()
    settings = {"tensors": "numpy", "max_batch_size": 16, "max_queue_delay": "5ms"}
    settings.update(attributes)
    config = function_yaml(
        f"batch_handlers:{handler}",
        {"model": oi_trigger("model", rest, grpc_port, maxWorkers=workers, **settings)},
        **(spec or {}),
    )
    return serve(folder, config, [HANDLERS], ports={"rest": rest, "grpc": grpc_port}, timeout=60)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``slow_async`` (50 ms per batch), two batches at a time, up to 16 rows, 5 ms delay."""
    with batched_server(tmp_path_factory.mktemp("batching"), "slow_async") as running:
        yield running


def rows_for(index: int, rows: int, width: int = 4, dtype: Any = np.float32) -> np.ndarray:
    return (np.arange(rows * width).reshape(rows, width) + index * 1000).astype(dtype)


def expected(x: np.ndarray) -> np.ndarray:
    return x * 2 + 1


def http_request(x: np.ndarray, datatype: str, binary: bool, outputs=("OUTPUT0", "REQUESTS")):
    item = httpclient.InferInput("INPUT0", list(x.shape), datatype)
    item.set_data_from_numpy(x, binary_data=binary)
    asked = [httpclient.InferRequestedOutput(name, binary_data=binary) for name in outputs]
    return [item], asked


def grpc_request(x: np.ndarray, datatype: str, outputs=("OUTPUT0", "REQUESTS"), aio=False):
    module = grpcaio if aio else grpcclient
    item = module.InferInput("INPUT0", list(x.shape), datatype)
    item.set_data_from_numpy(x)
    return [item], [module.InferRequestedOutput(name) for name in outputs]


def check(result: Any, x: np.ndarray) -> int:
    """Assert the client got exactly its rows; return how many requests its batch held."""
    got = result.as_numpy("OUTPUT0")
    assert got.shape == x.shape
    np.testing.assert_array_equal(got, expected(x))
    requests = result.as_numpy("REQUESTS")
    assert requests.shape == (x.shape[0], 1)
    return int(requests.max())


def histogram(server: Server, name: str, model: str = "model") -> tuple[int, float]:
    """The count and sum of histogram ``name`` (of ``model``) on /metrics."""
    text = server.metrics()
    found = [
        re.search(rf'^{name}_{part}\{{model="{model}"\}} (\S+)$', text, re.MULTILINE)
        for part in ("count", "sum")
    ]
    if found[0] is None or found[1] is None:
        raise AssertionError(f"no {name} on /metrics:\n{text}")
    return int(float(found[0].group(1))), float(found[1].group(1))


# ---------------------------------------------------------------------------
# 64 concurrent requests of different sizes, each client kind
# ---------------------------------------------------------------------------

SIZES = [1 + i % 5 for i in range(64)]


def test_http_sync_64_concurrent_requests_get_their_own_rows(server):
    client = httpclient.InferenceServerClient(server.url, concurrency=64, network_timeout=60)
    sent = [rows_for(i, rows) for i, rows in enumerate(SIZES)]
    pending = []
    for i, x in enumerate(sent):
        inputs, outputs = http_request(x, "FP32", binary=i % 2 == 0)
        pending.append(client.async_infer("model", inputs, outputs=outputs, request_id=str(i)))
    results = [p.get_result(timeout=60) for p in pending]
    together = [check(r, x) for r, x in zip(results, sent, strict=True)]
    assert [r.get_response()["id"] for r in results] == [str(i) for i in range(64)]
    assert max(together) > 1, "no two requests shared a batch"
    client.close()


def test_grpc_sync_64_concurrent_requests_get_their_own_rows(server):
    client = grpcclient.InferenceServerClient(server.grpc_url)
    sent = [rows_for(i, rows, dtype=np.int32) for i, rows in enumerate(SIZES)]
    done: list[Any] = [None] * len(sent)
    finished = threading.Semaphore(0)

    def callback(index: int):
        def record(result, error):
            done[index] = error or result
            finished.release()

        return record

    for i, x in enumerate(sent):
        inputs, outputs = grpc_request(x, "INT32")
        client.async_infer("model", inputs, callback(i), outputs=outputs, request_id=str(i))
    for _ in sent:
        assert finished.acquire(timeout=60)
    together = [check(r, x) for r, x in zip(done, sent, strict=True)]
    assert [r.get_response().id for r in done] == [str(i) for i in range(64)]
    assert max(together) > 1
    client.close()


async def test_http_aio_64_concurrent_requests_get_their_own_rows(server):
    client = httpaio.InferenceServerClient(server.url, conn_limit=64)
    sent = [rows_for(i, rows, dtype=np.float64) for i, rows in enumerate(SIZES)]
    try:
        calls = []
        for i, x in enumerate(sent):
            item = httpaio.InferInput("INPUT0", list(x.shape), "FP64")
            item.set_data_from_numpy(x, binary_data=i % 3 != 0)
            asked = [httpaio.InferRequestedOutput(n, binary_data=i % 2 == 0)
                     for n in ("OUTPUT0", "REQUESTS")]  # fmt: skip
            calls.append(client.infer("model", [item], outputs=asked))
        results = await asyncio.gather(*calls)
    finally:
        await client.close()
    together = [check(r, x) for r, x in zip(results, sent, strict=True)]
    assert max(together) > 1


async def test_grpc_aio_64_concurrent_requests_get_their_own_rows(server):
    client = grpcaio.InferenceServerClient(server.grpc_url)
    sent = [rows_for(i, rows) for i, rows in enumerate(SIZES)]
    try:
        calls = []
        for x in sent:
            inputs, outputs = grpc_request(x, "FP32", aio=True)
            calls.append(client.infer("model", inputs, outputs=outputs))
        results = await asyncio.gather(*calls)
    finally:
        await client.close()
    together = [check(r, x) for r, x in zip(results, sent, strict=True)]
    assert max(together) > 1
    count, total = histogram(server, "dh_openinference_batch_size")
    assert count >= 1
    assert total >= sum(SIZES)


# ---------------------------------------------------------------------------
# Requests that cannot share a batch: correct answers from separate batches
# ---------------------------------------------------------------------------


async def test_mixed_requests_are_answered_from_separate_batches(server):
    # Each kind differs from the others in one thing: width, datatype, rank, requested
    # outputs, parameters. Batched together they could not be concatenated (a 500).
    kinds: list[tuple[str, Any, dict[str, Any], tuple[str, ...]]] = [
        ("FP32", lambda i, r: rows_for(i, r, 4), {}, ("OUTPUT0", "REQUESTS")),
        ("FP32", lambda i, r: rows_for(i, r, 8), {}, ("OUTPUT0", "REQUESTS")),
        ("INT32", lambda i, r: rows_for(i, r, 4, np.int32), {}, ("OUTPUT0", "REQUESTS")),
        ("FP32", lambda i, r: rows_for(i, r, 6).reshape(r, 2, 3), {}, ("OUTPUT0", "REQUESTS")),
        ("FP32", lambda i, r: rows_for(i, r, 4), {}, ("OUTPUT0",)),
        ("FP32", lambda i, r: rows_for(i, r, 4), {"seconds": 0.01}, ("OUTPUT0", "REQUESTS")),
    ]
    http = httpaio.InferenceServerClient(server.url, conn_limit=64)
    grpc = grpcaio.InferenceServerClient(server.grpc_url)
    try:
        calls, sent = [], []
        for i in range(48):
            datatype, make, params, outputs = kinds[i % len(kinds)]
            x = make(i, 1 + i % 3)
            sent.append((x, outputs))
            if i % 2:
                item = httpaio.InferInput("INPUT0", list(x.shape), datatype)
                item.set_data_from_numpy(x)
                asked = [httpaio.InferRequestedOutput(n) for n in outputs]
                calls.append(http.infer("model", [item], outputs=asked, parameters=params))
            else:
                inputs, asked = grpc_request(x, datatype, outputs, aio=True)
                calls.append(grpc.infer("model", inputs, outputs=asked, parameters=params))
        results = await asyncio.gather(*calls)
    finally:
        await http.close()
        await grpc.close()
    for result, (x, outputs) in zip(results, sent, strict=True):
        np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), expected(x))
        if "REQUESTS" not in outputs:
            assert result.as_numpy("REQUESTS") is None


# ---------------------------------------------------------------------------
# A failing batch fails its own requests, and nothing else
# ---------------------------------------------------------------------------


def _blockers(server: Server) -> list[threading.Thread]:
    """Keep both run slots busy for 1.5 s (two batches: their parameters differ)."""

    def block(seconds: float) -> None:
        client = httpclient.InferenceServerClient(server.url, network_timeout=30)
        inputs, outputs = http_request(rows_for(7, 1), "FP32", True)
        result = client.infer("model", inputs, outputs=outputs, parameters={"seconds": seconds})
        check(result, rows_for(7, 1))

    threads = [threading.Thread(target=block, args=(s,)) for s in (1.5, 1.51)]
    for thread in threads:
        thread.start()
    wait_busy(server, 2)
    return threads


def wait_waiting(server: Server, requests: int) -> None:
    """Wait until ``requests`` requests wait for a batch (``dh_openinference_queue_waiting``)."""
    deadline = time.monotonic() + 10
    pattern = rf'^dh_openinference_queue_waiting\{{model="model"\}} {requests}\.0$'
    while not re.search(pattern, server.metrics(), re.M):
        assert time.monotonic() < deadline, server.metrics()
        time.sleep(0.01)


def wait_busy(server: Server, workers: int) -> None:
    """Wait until ``workers`` workers run a batch (``dh_workers_busy`` on /metrics)."""
    deadline = time.monotonic() + 10
    while not re.search(rf"^dh_workers_busy\{{[^}}]*\}} {workers}\.0$", server.metrics(), re.M):
        assert time.monotonic() < deadline, server.metrics()
        time.sleep(0.01)


@pytest.mark.parametrize(
    ("marker", "message"),
    [(-1, "ValueError: poisoned row in this batch"), (-2, "one row per input row")],
)
def test_a_failing_batch_fails_every_request_in_it_and_nothing_else(server, marker, message):
    blockers = _blockers(server)
    sent = [rows_for(i, 1) for i in range(8)]
    sent[3][0, 0] = marker  # one request of the eight makes the handler fail
    with ThreadPoolExecutor(8) as pool:

        def call(index: int) -> Any:
            client = httpclient.InferenceServerClient(server.url, network_timeout=30)
            inputs, outputs = http_request(sent[index], "FP32", index % 2 == 0)
            try:
                return client.infer("model", inputs, outputs=outputs)
            except InferenceServerException as exc:
                return exc

        answers = list(pool.map(call, range(8)))
    for thread in blockers:
        thread.join(30)
    # The eight waited together for a free slot, so they formed one batch: all fail alike.
    for answer in answers:
        assert isinstance(answer, InferenceServerException), answer
        assert answer.status() == "500"
        assert message in answer.message()
    # The batches around it were answered, and the model keeps serving.
    client = httpclient.InferenceServerClient(server.url)
    inputs, outputs = http_request(rows_for(9, 3), "FP32", True)
    assert check(client.infer("model", inputs, outputs=outputs), rows_for(9, 3)) >= 1


def test_a_failing_batch_over_grpc_is_internal_for_each_request(server):
    client = grpcclient.InferenceServerClient(server.grpc_url)
    x = rows_for(0, 2)
    x[1, 0] = -1
    inputs, outputs = grpc_request(x, "FP32")
    with pytest.raises(InferenceServerException) as info:
        client.infer("model", inputs, outputs=outputs)
    assert info.value.status() == "StatusCode.INTERNAL"
    assert "poisoned row" in info.value.message()
    client.close()


def test_inputs_that_disagree_on_the_batch_dimension_are_a_400(server):
    client = httpclient.InferenceServerClient(server.url)
    a = httpclient.InferInput("INPUT0", [2, 4], "FP32")
    a.set_data_from_numpy(rows_for(0, 2))
    b = httpclient.InferInput("INPUT1", [3], "FP32")
    b.set_data_from_numpy(np.zeros(3, dtype=np.float32))
    with pytest.raises(InferenceServerException) as info:
        client.infer("model", [a, b])
    assert info.value.status() == "400"
    assert "disagree on the batch dimension" in info.value.message()
    too_big = httpclient.InferInput("INPUT0", [17, 4], "FP32")
    too_big.set_data_from_numpy(rows_for(0, 17))
    with pytest.raises(InferenceServerException) as info:
        client.infer("model", [too_big])
    assert info.value.status() == "400"
    assert "at most maxBatchSize = 16" in info.value.message()


# ---------------------------------------------------------------------------
# The queue delay, preferred sizes, declared shapes
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def patient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Waits up to 1 s for a batch of 4 rows; 2 rows is a preferred size."""
    with batched_server(
        tmp_path_factory.mktemp("patient"),
        "slow_async",
        workers=1,
        max_batch_size=4,
        max_queue_delay="1s",
        preferred_batch_sizes=[2],
        input_tensors=[{"name": "INPUT0", "datatype": "FP32", "shape": [-1, 4]}],
        output_tensors=[
            {"name": "OUTPUT0", "datatype": "FP32", "shape": [-1, 4]},
            {"name": "REQUESTS", "datatype": "INT32", "shape": [-1, 1]},
        ],
    ) as running:
        yield running


def test_a_lone_request_waits_max_queue_delay_and_no_longer(patient):
    client = httpclient.InferenceServerClient(patient.url, network_timeout=30)
    before_count, before_sum = histogram(patient, "dh_openinference_queue_seconds")
    inputs, outputs = http_request(rows_for(1, 1), "FP32", True)
    start = time.perf_counter()
    result = client.infer("model", inputs, outputs=outputs, parameters={"seconds": 0})
    elapsed = time.perf_counter() - start
    assert check(result, rows_for(1, 1)) == 1
    count, total = histogram(patient, "dh_openinference_queue_seconds")
    assert count == before_count + 1
    waited = total - before_sum
    # The server's own clock: it held the request for the delay (1 s), not longer.
    assert 0.99 <= waited <= 1.0 + 0.05, waited
    assert elapsed >= 0.99


def test_a_full_or_preferred_batch_does_not_wait(patient):
    client = httpclient.InferenceServerClient(patient.url, network_timeout=30)
    inputs, outputs = http_request(rows_for(2, 4), "FP32", True)  # 4 rows: full
    start = time.perf_counter()
    check(client.infer("model", inputs, outputs=outputs, parameters={"seconds": 0}), rows_for(2, 4))
    assert time.perf_counter() - start < 0.9
    inputs, outputs = http_request(rows_for(3, 2), "FP32", False)  # 2 rows: preferred
    start = time.perf_counter()
    check(client.infer("model", inputs, outputs=outputs, parameters={"seconds": 0}), rows_for(3, 2))
    assert time.perf_counter() - start < 0.9


def test_model_metadata_shows_the_batch_dimension_as_minus_one(patient):
    client = httpclient.InferenceServerClient(patient.url)
    meta = client.get_model_metadata("model")
    assert meta["inputs"] == [{"name": "INPUT0", "datatype": "FP32", "shape": [-1, 4]}]
    assert meta["outputs"][0]["shape"] == [-1, 4]
    grpc = grpcclient.InferenceServerClient(patient.grpc_url)
    assert list(grpc.get_model_metadata("model").inputs[0].shape) == [-1, 4]
    grpc.close()


def test_batching_metrics_are_on_metrics(patient):
    text = patient.metrics()
    for name in (
        "dh_openinference_batch_size_bucket",
        "dh_openinference_queue_seconds_bucket",
        "dh_openinference_queue_rejected_total",
        "dh_openinference_queue_waiting",
    ):
        assert re.search(rf'^{name}\{{[^}}]*model="model"', text, re.MULTILINE), name
    assert re.search(r'^dh_openinference_batch_size_bucket\{le="4.0",model="model"\} [1-9]', text,
                     re.MULTILINE)  # fmt: skip


# ---------------------------------------------------------------------------
# The bound on waiting requests, SIGTERM
# ---------------------------------------------------------------------------


def test_beyond_max_queue_size_requests_get_503_and_unavailable(tmp_path):
    with batched_server(
        tmp_path, "slow_async", workers=1, max_batch_size=2, max_queue_delay="0s", max_queue_size=2
    ) as running:
        answers: dict[str, Any] = {}

        def call(name: str, seconds: float) -> None:
            client = httpclient.InferenceServerClient(running.url, network_timeout=30)
            inputs, outputs = http_request(rows_for(1, 1), "FP32", True)
            try:
                answers[name] = client.infer(
                    "model", inputs, outputs=outputs, parameters={"seconds": seconds}
                )
            except InferenceServerException as exc:
                answers[name] = exc

        busy = threading.Thread(target=call, args=("busy", 2.0))
        busy.start()
        wait_busy(running, 1)  # the one run slot is taken; the next two requests wait
        queued = [threading.Thread(target=call, args=(f"queued{i}", 0.01)) for i in range(2)]
        for thread in queued:
            thread.start()
        wait_waiting(running, 2)
        call("refused", 0.01)
        grpc = grpcclient.InferenceServerClient(running.grpc_url)
        inputs, outputs = grpc_request(rows_for(1, 1), "FP32")
        with pytest.raises(InferenceServerException) as info:
            grpc.infer("model", inputs, outputs=outputs)
        assert info.value.status() == "StatusCode.UNAVAILABLE"
        assert "full" in info.value.message()
        refused = answers["refused"]
        assert isinstance(refused, InferenceServerException)
        assert refused.status() == "503"
        assert "maxQueueSize" in refused.message()
        for thread in [busy, *queued]:
            thread.join(30)
        for name in ("busy", "queued0", "queued1"):
            check(answers[name], rows_for(1, 1))
        assert 'dh_openinference_queue_rejected_total{model="model"} 2' in running.metrics()


def test_sigterm_answers_every_queued_request(tmp_path):
    # A 10 s delay and batches of 4: two full batches run (1 s each, one at a time) and
    # two requests wait for more. SIGTERM sends them at once; every client gets its rows.
    with batched_server(
        tmp_path,
        "slow_async",
        workers=1,
        max_batch_size=4,
        max_queue_delay="10s",
        spec={"gracefulShutdownTimeout": 10},
    ) as running:
        answers: dict[int, Any] = {}

        def call(index: int) -> None:
            client = httpclient.InferenceServerClient(running.url, network_timeout=30)
            inputs, outputs = http_request(rows_for(index, 1), "FP32", True)
            try:
                params = {"seconds": 1.0}
                answers[index] = client.infer("model", inputs, outputs=outputs, parameters=params)
            except InferenceServerException as exc:
                answers[index] = exc

        threads = [threading.Thread(target=call, args=(i,)) for i in range(10)]
        for thread in threads:
            thread.start()
        wait_waiting(running, 6)  # 4 run, 4 wait for the worker, 2 wait for more rows
        start = time.perf_counter()
        running.proc.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join(30)
        assert running.proc.wait(30) == 0
        assert time.perf_counter() - start < 8  # the queued two did not wait for the delay
        for index in range(10):
            check(answers[index], rows_for(index, 1))
        assert "openinference trigger model stopped" in running.logs()


# ---------------------------------------------------------------------------
# Thread and process workers; tensors: lists
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["thread", "process"])
async def test_sync_handlers_batch_on_thread_and_process_workers(tmp_path, kind):
    with batched_server(tmp_path, "slow_sync", spec={"workerKind": kind}) as running:
        http = httpaio.InferenceServerClient(running.url, conn_limit=32)
        grpc = grpcaio.InferenceServerClient(running.grpc_url)
        sent = [rows_for(i, 1 + i % 4) for i in range(32)]
        try:
            calls = []
            for i, x in enumerate(sent):
                if i % 2:
                    item = httpaio.InferInput("INPUT0", list(x.shape), "FP32")
                    item.set_data_from_numpy(x)
                    asked = [httpaio.InferRequestedOutput(n) for n in ("OUTPUT0", "REQUESTS")]
                    calls.append(http.infer("model", [item], outputs=asked))
                else:
                    inputs, asked = grpc_request(x, "FP32", aio=True)
                    calls.append(grpc.infer("model", inputs, outputs=asked))
            results = await asyncio.gather(*calls)
        finally:
            await http.close()
            await grpc.close()
        together = [check(r, x) for r, x in zip(results, sent, strict=True)]
        assert max(together) > 1


async def test_lists_bodies_carry_the_batch(tmp_path):
    with batched_server(tmp_path, "lists", tensors="lists") as running:
        client = httpaio.InferenceServerClient(running.url, conn_limit=16)
        sent = [rows_for(i, 1 + i % 3) for i in range(16)]
        try:
            calls = []
            for i, x in enumerate(sent):
                item = httpaio.InferInput("INPUT0", list(x.shape), "FP32")
                item.set_data_from_numpy(x, binary_data=i % 2 == 0)
                calls.append(client.infer("model", [item]))
            results = await asyncio.gather(*calls)
        finally:
            await client.close()
        together = [check(r, x) for r, x in zip(results, sent, strict=True)]
        assert max(together) > 1


# ---------------------------------------------------------------------------
# The attributes
# ---------------------------------------------------------------------------

PATH = ("spec", "triggers", "model", "attributes")


def _structure(raw: dict[str, Any]) -> OpenInferenceAttributes:
    return structure(raw, OpenInferenceAttributes, source="function.yaml", path=PATH)


def test_batching_attributes_load_in_the_original_and_camel_case():
    a = _structure({"model_name": "m"})
    assert (a.max_batch_size, a.max_queue_delay, a.preferred_batch_sizes) == (0, 0.0, ())
    assert (a.max_queue_size, a.batching) == (1024, False)
    a = _structure(
        {
            "model_name": "m",
            "maxBatchSize": 32,
            "max_queue_delay": "500us",
            "preferredBatchSizes": [16, 8, 16],
            "MAX_QUEUE_SIZE": 64,
        }
    )
    assert (a.max_batch_size, a.max_queue_delay, a.preferred_batch_sizes) == (32, 0.0005, (8, 16))
    assert (a.max_queue_size, a.batching) == (64, True)
    assert _structure({"model_name": "m", "max_batch_size": 1}).batching is False


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"max_batch_size": -1}, "attributes: maxBatchSize: must be 0 (off) or more"),
        ({"max_queue_delay": "2 ms"}, "invalid duration '2 ms'"),
        ({"max_queue_delay": "-1ms"}, "maxQueueDelay: must be between 0 and 60s"),
        ({"max_queue_size": 0}, "maxQueueSize: must be at least 1"),
        (
            {"max_batch_size": 8, "preferred_batch_sizes": [4, 16]},
            "preferredBatchSizes: 16 is not between 1 and maxBatchSize (8)",
        ),
        (
            {
                "max_batch_size": 8,
                "input_tensors": [{"name": "x", "datatype": "FP32", "shape": [1, 4]}],
            },
            "inputTensors: 'x' has shape [1, 4]; with maxBatchSize the first dimension is the "
            "batch and must be -1: [-1, 4]",
        ),
        (
            {"max_batch_size": 8, "output_tensors": [{"name": "y", "datatype": "FP32"}]},
            "outputTensors: 'y' has shape []",
        ),
    ],
)
def test_bad_batching_attributes_name_the_key(raw, message):
    with pytest.raises(ConfigError) as info:
        _structure({"model_name": "m", **raw})
    assert message in "\n".join(info.value.problems)


# ---------------------------------------------------------------------------
# Merging and splitting (hypothesis, in-process)
# ---------------------------------------------------------------------------


def _parsed(rows: int, datatype: str, tail: tuple[int, ...], seed: int, **extra) -> ParsedRequest:
    shape = (rows, *tail)
    if datatype == "BYTES":
        array = np.array([str(seed + i).encode() for i in range(int(np.prod(shape)))], dtype=object)
    else:
        array = (np.arange(int(np.prod(shape))) + seed).astype(DATATYPES[datatype])
    array = array.reshape(shape)
    tensor = InputTensor("INPUT0", datatype, list(shape), array, extra.get("input_parameters"))
    return ParsedRequest(f"id-{seed}", extra.get("parameters"), [tensor], None)


@settings(max_examples=80, deadline=None)
@given(
    rows=st.lists(st.integers(0, 5), min_size=1, max_size=6),
    datatype=st.sampled_from(["FP32", "INT8", "BOOL", "FP16", "UINT64", "BYTES", "BF16"]),
    tail=st.lists(st.integers(0, 3), max_size=2).map(tuple),
)
def test_merged_inputs_split_back_into_each_request(rows, datatype, tail):
    requests = [_parsed(r, datatype, tail, 100 * i) for i, r in enumerate(rows)]
    assert len({batch_key(r, "rest") for r in requests}) == 1
    merged = merge(requests)
    batch = Batch(rows, [r.id for r in requests])
    assert merged.inputs[0].shape == [sum(rows), *tail]
    assert batch.size == sum(rows)
    assert len(batch) == len(rows)
    parts = batch.split(merged.inputs[0].array)
    for part, request in zip(parts, requests, strict=True):
        np.testing.assert_array_equal(part, request.inputs[0].array)


def test_requests_that_differ_never_share_a_key():
    base = _parsed(2, "FP32", (4,), 0)
    binary = _parsed(3, "FP32", (4,), 1, parameters={"binary_data_output": True},
                     input_parameters={"binary_data_size": 48})  # fmt: skip
    assert batch_key(base, "rest") == batch_key(binary, "rest")
    others = [
        batch_key(base, "grpc"),
        batch_key(_parsed(2, "FP64", (4,), 0), "rest"),
        batch_key(_parsed(2, "FP32", (5,), 0), "rest"),
        batch_key(_parsed(2, "FP32", (4, 1), 0), "rest"),
        batch_key(_parsed(2, "FP32", (4,), 0, parameters={"temperature": 0.5}), "rest"),
        batch_key(_parsed(2, "FP32", (4,), 0, input_parameters={"scale": 2}), "rest"),
    ]
    asked = _parsed(2, "FP32", (4,), 0)
    asked.outputs = [RequestedOutput("OUTPUT0", None, None)]
    others.append(batch_key(asked, "rest"))
    assert len({batch_key(base, "rest"), *others}) == len(others) + 1


# ---------------------------------------------------------------------------
# The README's batching example, as written
# ---------------------------------------------------------------------------


def test_the_readme_batching_example_runs_as_written(tmp_path):
    text = (ROOT / "plugins" / "trigger_openinference" / "README.md").read_text()
    config_text, handler, client = (
        next(b for b in code_blocks(text, language) if b.startswith(head))
        for language, head in (
            ("yaml", "# function-batched.yaml"),
            ("python", "# batched.py"),
            ("python", "# batched_client.py"),
        )
    )
    config = yaml.safe_load(config_text)
    rest, grpc_port = free_port(), free_port()
    trigger = config["spec"]["triggers"]["model"]
    trigger["attributes"].update(host="127.0.0.1", rest_port=rest, grpc_port=grpc_port)
    (tmp_path / "batched.py").write_text(handler)
    client_path = tmp_path / "batched_client.py"
    client_path.write_text(client.replace("127.0.0.1:8080", f"127.0.0.1:{rest}"))
    with serve(
        tmp_path / "server",
        config,
        [tmp_path / "batched.py"],
        ports={"rest": rest, "grpc": grpc_port},
    ) as running:
        done = subprocess.run(
            [sys.executable, str(client_path)], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "64 of 64 clients got their own rows"
        count, rows = histogram(running, "dh_openinference_batch_size", "batched")
        assert rows == sum(1 + i % 3 for i in range(64))
        assert count < 64  # some requests shared a handler call
