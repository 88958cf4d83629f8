"""Dynamic batching for the openinference trigger (``max_batch_size`` above 1).

Requests are batched along the first dimension of every input, whatever their encoding
(REST JSON, REST binary, gRPC), but only with requests that agree: same protocol, same
input names (in order), datatypes and non-batch dimensions, same per-input and request
``parameters`` (the binary extension's own keys aside) and the same requested outputs.
Requests that do not agree go in separate batches, never an error. The handler gets one
event whose inputs are the concatenated arrays and whose body tells the batch
(:class:`Batch`); its outputs must have one row per input row, and each client gets its
own rows, in its own answer form. A handler that raises, or answers with the wrong
number of rows, fails every request of that batch (and only those).

The queueing policy lives in :mod:`._batcher`; this module knows the protocol.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import orjson

from dh_serverless.core.api import ByteBudget
from dh_serverless.hookspecs import Dispatch, DispatchError, Metrics, ShuttingDownError, TriggerInfo
from dh_serverless.triggers.openinference._batcher import Batcher
from dh_serverless.triggers.openinference._model import HandlerOutputError, Model
from dh_serverless.triggers.openinference._request import InputTensor, ParsedRequest, RequestError
from dh_serverless.triggers.openinference._serving import HandlerError, Inference
from dh_serverless.triggers.openinference.bodies import InferenceRequest, RequestBody
from dh_serverless.triggers.openinference.config import DEFAULT_MAX_LIST_ELEMENTS
from dh_serverless.triggers.openinference.results import InferenceResult, OutputTensor

__all__ = ("Batch", "BatchedRequest", "BatchingInference")

#: the binary data extension's parameters: they differ per client, never split a batch
_TRANSPORT = frozenset(("binary_data_output", "binary_data_size", "binary_data"))
#: batch sizes (rows)
_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
#: time a request waited in the queue, seconds
_DELAY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1)

Outcome = tuple[InferenceResult, list[OutputTensor], int]


class Batch:
    """What a batched handler is told about its batch (``event.body.batch``).

    :ivar size: rows in the batch: the first dimension of every input (and of every
        output the handler returns).
    :ivar rows: each request's rows, in batch order (``sum(rows) == size``).
    :ivar ids: each request's ``id`` (``""`` if it sent none), in batch order.
    """

    __slots__ = ("ids", "rows", "size")

    def __init__(self, rows: Sequence[int], ids: Sequence[str]) -> None:
        self.rows = tuple(rows)
        self.ids = tuple(ids)
        self.size = sum(self.rows)

    def __len__(self) -> int:
        """The number of requests in the batch."""
        return len(self.rows)

    def slices(self) -> list[slice]:
        """Each request's rows as a ``slice`` of the batch dimension."""
        out = []
        start = 0
        for count in self.rows:
            out.append(slice(start, start + count))
            start += count
        return out

    def split(self, array: np.ndarray[Any, Any]) -> list[np.ndarray[Any, Any]]:
        """``array`` (first dimension ``size``) cut into each request's rows (views)."""
        return [array[s] for s in self.slices()]

    def as_json(self) -> dict[str, Any]:
        """``{"size", "rows", "ids"}``: the form ``tensors: lists`` bodies carry."""
        return {"size": self.size, "rows": list(self.rows), "ids": list(self.ids)}

    def __reduce__(self) -> tuple[Any, ...]:
        return (Batch, (self.rows, self.ids))

    def __repr__(self) -> str:
        return f"Batch(size={self.size}, rows={list(self.rows)})"


class BatchedRequest(InferenceRequest):
    """The :class:`InferenceRequest` of a batch (``tensors: numpy``): inputs concatenated
    along their first dimension, plus :attr:`batch`. ``id`` is the request's own id when
    the batch holds one request, else ``""`` (every id is in ``batch.ids``)."""

    __slots__ = ("batch",)

    def __init__(self, inputs: dict[str, np.ndarray[Any, Any]], batch: Batch, **meta: Any) -> None:
        super().__init__(inputs, **meta)
        self.batch = batch

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_batched, (self.inputs, self.batch, self._meta()))

    def __repr__(self) -> str:
        return f"{super().__repr__()[:-1]}, batch={self.batch!r})"


def _rebuild_batched(inputs: dict[str, Any], batch: Batch, meta: dict[str, Any]) -> BatchedRequest:
    return BatchedRequest(inputs, batch, **meta)


def _params_key(parameters: dict[str, Any] | None) -> bytes | None:
    if not parameters:
        return None
    kept = {k: v for k, v in parameters.items() if k not in _TRANSPORT}
    return orjson.dumps(kept, option=orjson.OPT_SORT_KEYS) if kept else None


def batch_key(request: ParsedRequest, protocol: str) -> Hashable:
    """What two requests must share to be batched together."""
    inputs = tuple(
        (t.name, t.datatype, tuple(t.shape[1:]), _params_key(t.parameters)) for t in request.inputs
    )
    outputs = (
        None
        if request.outputs is None
        else tuple((o.name, _params_key(o.parameters)) for o in request.outputs)
    )
    return (protocol, inputs, outputs, _params_key(request.parameters))


def batch_rows(request: ParsedRequest, max_batch_size: int, model: str) -> int:
    """The request's rows (its inputs' common first dimension); 400 if it has none."""
    rows = -1
    for tensor in request.inputs:
        if not tensor.shape:
            raise RequestError(
                400,
                f"input {tensor.name!r} has no dimensions; with maxBatchSize every input's "
                "first dimension is the batch",
            )
        if rows == -1:
            rows = tensor.shape[0]
        elif tensor.shape[0] != rows:
            raise RequestError(
                400,
                f"inputs disagree on the batch dimension (input {tensor.name!r} has "
                f"{tensor.shape[0]} rows, the first input {rows}); with maxBatchSize every "
                "input's first dimension is the batch",
            )
    if rows == -1:
        raise RequestError(400, "the request has no inputs")
    if rows > max_batch_size:
        raise RequestError(
            400,
            f"the request has {rows} rows (its inputs' first dimension); model {model!r} "
            f"takes at most maxBatchSize = {max_batch_size}",
        )
    return rows


def merge(requests: list[ParsedRequest]) -> ParsedRequest:
    """One request whose inputs are the requests' inputs concatenated along axis 0."""
    first = requests[0]
    if len(requests) == 1:
        return first
    inputs = []
    for index, tensor in enumerate(first.inputs):
        array = np.concatenate([r.inputs[index].array for r in requests], axis=0)
        inputs.append(
            InputTensor(tensor.name, tensor.datatype, list(array.shape), array, tensor.parameters)
        )
    merged = ParsedRequest(
        "", first.parameters, inputs, first.outputs, first.binary_output, first.typed
    )
    merged.size = sum(r.size for r in requests)
    return merged


def _clone(exc: BaseException) -> BaseException:
    """A fresh copy of ``exc`` for each caller (one exception raised in many tasks would
    gather all their tracebacks)."""
    if isinstance(exc, (HandlerError, RequestError)):
        return type(exc)(exc.status, exc.message)
    try:
        return type(exc)(*exc.args)
    except Exception:  # noqa: BLE001 - a constructor we cannot call again: share it
        return exc


class _BatchMetrics:
    """``dh_openinference_batch_size``, ``_queue_seconds``, ``_queue_rejected``,
    ``_queue_waiting``, all labelled by ``model``."""

    def __init__(self, metrics: Metrics, model: str) -> None:
        self.size = metrics.histogram(
            "dh_openinference_batch_size",
            "Rows in each batch the handler ran (dynamic batching)",
            ("model",),
            buckets=_SIZE_BUCKETS,
        ).labels(model)
        self.delay = metrics.histogram(
            "dh_openinference_queue_seconds",
            "Time each request waited in the batch queue before its batch was formed",
            ("model",),
            buckets=_DELAY_BUCKETS,
        ).labels(model)
        self.rejected = metrics.counter(
            "dh_openinference_queue_rejected",
            "Requests refused because maxQueueSize requests were already waiting",
            ("model",),
        ).labels(model)
        self.waiting = metrics.gauge(
            "dh_openinference_queue_waiting",
            "Requests waiting in the batch queue",
            ("model",),
        ).labels(model)

    def on_batch(self, rows: int, delays: list[float]) -> None:
        self.size.observe(rows)
        observe = self.delay.observe
        for delay in delays:
            observe(delay)


class BatchingInference(Inference):
    """:class:`Inference` whose requests wait to be run in batches."""

    def __init__(
        self,
        model: Model,
        dispatch: Dispatch,
        info: TriggerInfo,
        numpy: bool,
        *,
        max_list_elements: int = DEFAULT_MAX_LIST_ELEMENTS,
        budget: ByteBudget | None = None,
        max_batch_size: int,
        max_queue_delay: float,
        preferred_batch_sizes: Sequence[int],
        max_queue_size: int,
        concurrency: int,
        metrics: Metrics,
    ) -> None:
        super().__init__(
            model, dispatch, info, numpy, max_list_elements=max_list_elements, budget=budget
        )
        self.max_batch_size = max_batch_size
        self._metrics = stats = _BatchMetrics(metrics, model.name)
        full = (
            f"the batch queue of model {model.name!r} is full ({max_queue_size} requests "
            "waiting: attributes.maxQueueSize); retry later"
        )

        def reject() -> BaseException:
            stats.rejected.inc()
            return ShuttingDownError(full)  # 503 / UNAVAILABLE, as Triton answers

        self.batcher: Batcher[tuple[ParsedRequest, int], Outcome] = Batcher(
            self._run_batch,
            max_batch_size=max_batch_size,
            max_queue_delay=max_queue_delay,
            preferred=preferred_batch_sizes,
            max_queue_size=max_queue_size,
            concurrency=concurrency,
            reject=reject,
            closed=lambda: ShuttingDownError("the function is shutting down"),
            on_batch=stats.on_batch,
        )
        batcher = self.batcher
        stats.waiting.set_function(lambda: float(batcher.waiting))

    async def run(self, request: ParsedRequest, protocol: str, size: int) -> Outcome:
        """Check, wait for a batch, and return this request's share of its outcome."""
        self.model.check(request)
        rows = batch_rows(request, self.max_batch_size, self.model.name)
        return await self.batcher.submit(batch_key(request, protocol), (request, size), rows)

    def close(self) -> None:
        """Send what is queued now; refuse new requests (503 / ``UNAVAILABLE``)."""
        self.batcher.close()

    async def _run_batch(
        self, key: Hashable, items: list[tuple[ParsedRequest, int]]
    ) -> list[Outcome | BaseException]:
        requests = [request for request, _ in items]
        batch = Batch([r.inputs[0].shape[0] for r in requests], [r.id for r in requests])
        protocol = key[0]  # type: ignore[index]
        merged = merge(requests)
        event = self.event(merged, protocol, sum(size for _, size in items))
        body = event.body
        if isinstance(body, InferenceRequest):
            meta = body._meta()
            event.body = BatchedRequest(body.inputs, batch, **meta)
        else:
            event.body = RequestBody({**body.data, "batch": batch.as_json()})
        event.headers["X-Batch-Size"] = str(batch.size)
        try:  # accepted requests are work in flight: they finish while the runtime drains
            result, status = await self.call(event, continuation=True)
            outputs = self.model.finish(result, requests[0])
            for tensor in outputs:
                shape = tensor.array.shape
                if not shape or shape[0] != batch.size:
                    raise HandlerOutputError(
                        f"output {tensor.name!r} has shape {list(shape)}; a batched handler "
                        f"returns one row per input row: {batch.size} rows for this batch "
                        f"of {len(batch)} request(s)"
                    )
        except (RequestError, HandlerError, HandlerOutputError, DispatchError) as exc:
            return [_clone(exc) for _ in items]
        outcomes: list[Outcome | BaseException] = []
        for rows in batch.slices():
            mine = [OutputTensor(t.name, t.datatype, t.array[rows], t.parameters) for t in outputs]
            outcomes.append((InferenceResult(mine, None, result.parameters), mine, status))
        return outcomes
