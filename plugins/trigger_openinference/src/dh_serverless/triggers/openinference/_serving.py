"""One inference, the same for REST and gRPC: check, build the event, dispatch, match outputs."""

from __future__ import annotations

import datetime
from typing import Any

import orjson

from dh_serverless.core.api import UTC, ByteBudget, EventIds
from dh_serverless.hookspecs import Converted, Dispatch, Event, TriggerInfo
from dh_serverless.triggers.openinference._model import Model
from dh_serverless.triggers.openinference._request import ParsedRequest, cap
from dh_serverless.triggers.openinference.bodies import lists_body, numpy_body
from dh_serverless.triggers.openinference.config import (
    DEFAULT_MAX_BYTES_IN_FLIGHT,
    DEFAULT_MAX_LIST_ELEMENTS,
)
from dh_serverless.triggers.openinference.results import InferenceResult, OutputTensor, to_result

__all__ = ("HandlerError", "Inference", "error_message")


_UTC = UTC
_now = datetime.datetime.now


class HandlerError(Exception):
    """The handler raised or answered with a status of 400 or more."""

    def __init__(self, status: int, message: str) -> None:
        message = cap(message)
        super().__init__(message)
        self.status = status
        self.message = message


def error_message(body: Any) -> str:
    """The text of an error answer: its ``error`` if it is JSON with one, else the text."""
    if isinstance(body, (bytes, bytearray, memoryview, str)):
        raw = bytes(body) if not isinstance(body, str) else body
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            doc = None
        if isinstance(doc, dict) and "error" in doc:
            return str(doc["error"])
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        return text.strip() or "the handler failed"
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])
    return str(body) if body is not None else "the handler failed"


class Inference:
    """Runs requests through ``dispatch`` and returns the outputs to send."""

    def __init__(
        self,
        model: Model,
        dispatch: Dispatch,
        info: TriggerInfo,
        numpy: bool,
        *,
        max_list_elements: int = DEFAULT_MAX_LIST_ELEMENTS,
        budget: ByteBudget | None = None,
    ) -> None:
        self.model = model
        self.dispatch = dispatch
        self.info = info
        self.numpy = numpy
        self.max_list_elements = max_list_elements
        #: bytes of requests being received and handled at once, REST and gRPC together
        self.budget = budget if budget is not None else ByteBudget(DEFAULT_MAX_BYTES_IN_FLIGHT)
        self._path = f"/v2/models/{model.name}/infer"
        self._new_id = EventIds()

    def event(self, request: ParsedRequest, protocol: str, size: int) -> Event:
        """The event a handler sees for ``request``."""
        model = self.model
        if self.numpy:
            body: Any = numpy_body(request, model.name, model.version, protocol)
        else:
            body = lists_body(request, model.name, model.version, self.max_list_elements)
        return Event(
            body,
            "application/json",
            self.info,
            None,
            {
                "X-Model-Name": model.name,
                "X-Model-Version": model.version,
                "X-Request-ID": request.id,
                "X-Protocol": protocol,
            },
            self._new_id(),
            "POST",
            self._path,
            size,
            _now(_UTC),
        )

    async def run(
        self, request: ParsedRequest, protocol: str, size: int
    ) -> tuple[InferenceResult, list[OutputTensor], int]:
        """Check, dispatch and match: the result, the outputs to send, and the status.

        Raises ``RequestError`` (the client's fault), :class:`HandlerError`,
        ``HandlerOutputError`` (the handler's), or a ``DispatchError`` (the runtime's).
        """
        self.model.check(request)
        result, status = await self.call(self.event(request, protocol, size))
        return result, self.model.finish(result, request), status

    async def call(
        self, event: Event, *, continuation: bool = False
    ) -> tuple[InferenceResult, int]:
        """Dispatch ``event``: the handler's result and status (raises as :meth:`run`).

        ``continuation``: the event is work already accepted (a batch), which the runtime
        still takes while it drains.
        """
        response = await self.dispatch(event, continuation=continuation)
        status = response.status_code
        if status >= 400:
            raise HandlerError(status, error_message(response.body))
        if not isinstance(response, Converted):
            # A middleware answered for the handler: its Response, converted as a result.
            try:
                response = to_result(response)
            except (TypeError, ValueError) as exc:
                raise HandlerError(500, f"{type(exc).__name__}: {exc}") from None
            if not isinstance(response, Converted):
                raise HandlerError(response.status_code, error_message(response.body))
        result: InferenceResult = response.value
        return result, status
