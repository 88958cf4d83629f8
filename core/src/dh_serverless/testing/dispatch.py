"""A ``dispatch`` for testing a trigger without the runtime: it records and answers.

::

    dispatch = FakeDispatch()                         # answers 200 with an empty body
    dispatch = FakeDispatch(b"pong")                  # Nuclio's conversion of a result
    dispatch = FakeDispatch(lambda event: event.body) # a handler (sync or async)
    dispatch = FakeDispatch(WorkerBusyError("busy"))  # what the runtime raises when busy
    dispatch.answers.extend([Response(status_code=500), b"ok"])  # the next two, in order

    await trigger.start(dispatch)
    events = await dispatch.wait_for(2)               # the first two events it received

``pause()`` holds every call until ``resume()``: a trigger's drain can then be seen with
events in flight (``dispatch.in_flight``).
"""

from __future__ import annotations

import asyncio
import inspect
from collections import deque
from collections.abc import Callable
from typing import Any

from dh_serverless.core.responses import error_response, to_response
from dh_serverless.hookspecs.types import Event, Response

__all__ = ("FakeDispatch",)

Answer = Any  # Response | bytes | str | dict | BaseException | Callable[[Event], Any] | None


class FakeDispatch:
    """Records each event it gets and answers as configured.

    :param answer: what every call answers unless :attr:`answers` has one queued: a
        :class:`Response` (returned), an exception (raised: a ``DispatchError`` such as
        ``WorkerBusyError`` is what the runtime raises), a callable ``(event) -> result``
        (a handler without context, sync or async; what it returns is converted by
        Nuclio's rules, what it raises becomes the runtime's 500), or a result to convert
        (``None``: an empty 200).
    """

    def __init__(self, answer: Answer = None) -> None:
        self.answer = answer
        #: answers used once each, in order, before :attr:`answer`
        self.answers: deque[Answer] = deque()
        #: every event received, in order
        self.events: list[Event] = []
        #: the ``continuation`` argument of each call, in order
        self.continuations: list[bool] = []
        #: what each call gave back, in order: a Response or the exception raised
        self.outcomes: list[Response | BaseException] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._open = asyncio.Event()
        self._open.set()
        self._changed: asyncio.Condition | None = None

    def pause(self) -> None:
        """Hold every call (after recording its event) until :meth:`resume`."""
        self._open.clear()

    def resume(self) -> None:
        """Let the held calls, and the next ones, answer."""
        self._open.set()

    async def __call__(self, event: Event, continuation: bool = False) -> Response:
        """Record ``event`` (and ``continuation``, as the core's ``dispatch`` takes it) and
        answer."""
        self.events.append(event)
        self.continuations.append(continuation)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        await self._notify()
        try:
            await self._open.wait()
            answer = self.answers.popleft() if self.answers else self.answer
            try:
                response = await _respond(answer, event)
            except BaseException as exc:
                self.outcomes.append(exc)
                raise
            self.outcomes.append(response)
            return response
        finally:
            self.in_flight -= 1
            await self._notify()

    async def _notify(self) -> None:
        if self._changed is None:
            self._changed = asyncio.Condition()
        async with self._changed:
            self._changed.notify_all()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Until ``predicate()`` holds (checked as calls arrive and finish);
        ``AssertionError`` after ``timeout`` seconds."""
        if self._changed is None:
            self._changed = asyncio.Condition()
        try:
            async with self._changed:
                await asyncio.wait_for(self._changed.wait_for(predicate), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(
                f"timed out after {timeout}s; {len(self.events)} event(s) received, "
                f"{self.in_flight} in flight"
            ) from None

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Event]:
        """The first ``count`` events, once that many arrived; ``AssertionError`` naming
        how many did after ``timeout`` seconds."""
        await self.wait_until(lambda: len(self.events) >= count, timeout)
        return self.events[:count]


async def _respond(answer: Answer, event: Event) -> Response:
    if isinstance(answer, BaseException) or (
        isinstance(answer, type) and issubclass(answer, BaseException)
    ):
        raise answer
    if isinstance(answer, Response):
        return answer
    if callable(answer):
        try:
            result = answer(event)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:  # noqa: BLE001 - as the runtime: a raising handler is a 500
            return error_response(exc)
        return result if isinstance(result, Response) else to_response(result)
    return to_response(answer)
