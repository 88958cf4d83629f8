"""The ``test`` trigger: a test pushes events into a function and awaits its answers.

It listens on nothing. :class:`~dh_serverless.testing.function.InProcessFunction` (and the
``dh_sink_function`` fixture) provide it to the runtime as trigger kind ``test`` for that
one function; it is never registered as an entry point, so ``dh-serverless plugins`` does
not list it and no user's ``function.yaml`` can name it. Everything else is the runtime's
own: workers, ``eventTimeout``, metrics, the sink queue, ordering, drain::

    spec:
      triggers:
        feed:
          kind: test
          maxWorkers: 2
          attributes:
            sink: {kind: websocket, attributes: {port: 0}}
            sinkOrderWait: 1.0      # optional: the sink gets results in push order

``await trigger.push(b"frame", "image/jpeg", frame_num=7)`` dispatches one event (the
keyword arguments become ``event.fields``, as the mjpeg trigger's ``frame_num``) and
returns the :class:`Response`, or raises the
:class:`~dh_serverless.hookspecs.errors.DispatchError` the runtime raised (busy, timeout,
shutting down).
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import attrs

from dh_serverless.core.events import EventFactory
from dh_serverless.hookspecs.errors import ShuttingDownError
from dh_serverless.hookspecs.protocols import TriggerSpec
from dh_serverless.hookspecs.types import Dispatch, Event, Response, TriggerInfo

__all__ = ("KIND", "PushTrigger", "PushTriggerAttributes")

#: The kind a test's ``function.yaml`` names.
KIND = "test"


@attrs.frozen
class PushTriggerAttributes:
    """The ``test`` trigger's attributes (its ``sink`` is the core's, as for any trigger).

    :param sink_order_wait: seconds; when set, the sink receives results in push order
        (the runtime's ordering, as the mjpeg trigger asks for it).
    """

    sink_order_wait: float | None = None


class PushTrigger:
    """A trigger driven by the test: :meth:`push` is one event through ``dispatch``."""

    attributes_type: ClassVar[type] = PushTriggerAttributes
    __test__ = False  # not a test class, whatever module imports it

    def __init__(self, spec: TriggerSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.kind = spec.kind
        self.sink_order_wait: float | None = spec.attributes.sink_order_wait
        self._events = EventFactory(TriggerInfo(spec.kind, spec.name))
        self._dispatch: Dispatch | None = None
        self._stopped = False
        self._in_flight: set[asyncio.Future[Response]] = set()

    async def start(self, dispatch: Dispatch) -> None:
        """Keep ``dispatch``; from now on :meth:`push` reaches the function."""
        if self._dispatch is not None:
            raise RuntimeError(f"trigger {self.name} already started")
        self._dispatch = dispatch

    def event(
        self,
        body: bytes | str = b"",
        content_type: str = "application/octet-stream",
        *,
        path: str = "/",
        method: str = "POST",
        headers: dict[str, Any] | None = None,
        **fields: Any,
    ) -> Event:
        """The event :meth:`push` would dispatch (a ``str`` body is sent as UTF-8)."""
        raw = body.encode() if isinstance(body, str) else bytes(body)
        headers = dict(headers or {})
        if content_type:
            headers.setdefault("Content-Type", content_type)
        return self._events(
            raw, content_type=content_type, headers=headers, fields=fields,
            method=method, path=path,
        )  # fmt: skip

    async def push(
        self,
        body: bytes | str | Event = b"",
        content_type: str = "application/octet-stream",
        *,
        path: str = "/",
        method: str = "POST",
        headers: dict[str, Any] | None = None,
        **fields: Any,
    ) -> Response:
        """Dispatch one event (``body`` may be a ready :class:`Event`) and return the
        response; a ``DispatchError`` (busy, timeout, shutting down) is raised as is."""
        if self._dispatch is None:
            raise RuntimeError(f"trigger {self.name} is not started: start the function first")
        if self._stopped:
            raise ShuttingDownError("the test trigger was stopped")
        if isinstance(body, Event):
            event = body
        else:
            event = self.event(
                body, content_type, path=path, method=method, headers=headers, **fields
            )
        call = asyncio.ensure_future(self._dispatch(event))
        self._in_flight.add(call)
        call.add_done_callback(self._in_flight.discard)
        return await asyncio.shield(call)

    async def stop(self, timeout: float) -> None:
        """Refuse new pushes; wait up to ``timeout`` seconds for those in flight."""
        self._stopped = True
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=timeout)
