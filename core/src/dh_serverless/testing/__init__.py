"""Test Nuclio handlers the way the runtime runs them.

``Platform`` offers what ``nuclio_sdk.test.Platform`` offers (``call_handler``,
``call_handler_with_context_mutation``, ``context``) and what it lacks: async handlers
and ``init_context`` are awaited, events are built as a trigger builds them
(:meth:`Platform.event`), results are converted by the runtime's own rules
(:meth:`Platform.invoke`), and drain/termination callbacks can be run::

    from dh_serverless.testing import Platform

    def test_hello():
        with Platform() as platform:
            response = platform.invoke(handler, platform.event(body="World"))
            assert response.status_code == 200
            assert response.body == b"Hello, World!"

With pytest the ``dh_platform`` fixture hands out one that is closed after the test.

For plugin authors (see ``docs/writing-a-plugin.md``, "Testing a plugin"):

- :func:`trigger_spec` / :func:`sink_spec`: the spec the runtime would build for a plugin
  with the attributes a ``function.yaml`` gives it;
- :class:`FakeDispatch`: a ``dispatch`` that records events and answers as told;
- :func:`read_metric`: a metric by the name a user writes (``dh_x`` or ``dh_x_total``),
  and a clear error for one that does not exist;
- :class:`~dh_serverless.testing.function.InProcessFunction` and the
  ``dh_trigger_function`` / ``dh_sink_function`` fixtures: the real runtime in the
  test's event loop, with the ``test`` trigger (:mod:`dh_serverless.testing.trigger`)
  to push events into a function and its sink, and the port a trigger bound for
  ``port: 0``;
- :mod:`dh_serverless.testing.processes`: a function as a real ``dh-serverless run``
  process.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from dh_serverless.core.compat import Runner
from dh_serverless.core.events import new_event
from dh_serverless.core.nuclio import Context, Logger
from dh_serverless.core.nuclio import Platform as _NuclioPlatform
from dh_serverless.core.responses import error_response, to_response
from dh_serverless.hookspecs.types import Event, Response, TriggerInfo
from dh_serverless.testing.dispatch import FakeDispatch
from dh_serverless.testing.metrics import MetricNotFound, read_metric
from dh_serverless.testing.ports import free_port
from dh_serverless.testing.specs import function_info, sink_spec, trigger_spec

__all__ = (
    "FakeDispatch",
    "MetricNotFound",
    "Platform",
    "free_port",
    "function_info",
    "make_event",
    "read_metric",
    "sink_spec",
    "trigger_spec",
)

T = TypeVar("T")


def make_event(
    body: Any = b"",
    *,
    headers: dict[str, Any] | None = None,
    content_type: str | None = None,
    method: str | None = None,
    path: str = "/",
    fields: dict[str, Any] | None = None,
    trigger: TriggerInfo | None = None,
) -> Event:
    """An event as the http trigger builds it.

    A ``str`` body is sent as UTF-8; a ``dict`` or ``list`` body as JSON with
    ``application/json``. The body then follows the runtime's decoding rule.
    """
    import json

    if isinstance(body, (dict, list)):
        raw = json.dumps(body).encode()
        content_type = content_type or "application/json"
    elif isinstance(body, str):
        raw = body.encode()
    else:
        raw = bytes(body or b"")
    headers = dict(headers or {})
    if content_type is None:
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    elif content_type:
        headers.setdefault("Content-Type", content_type)
    return new_event(
        raw,
        trigger=trigger or TriggerInfo("http", "test"),
        content_type=content_type,
        headers=headers,
        fields=fields,
        method=method or ("POST" if raw else "GET"),
        path=path,
    )


class Platform:
    """Runs handlers with a real context, one per handler function, as a worker would.

    :param trigger: the trigger the context reports (default ``http``/``test``).
    :param worker_id: the context's ``worker_id`` (a string, as in the runtime).
    """

    kind = "test"

    def __init__(self, trigger: TriggerInfo | None = None, worker_id: str = "0") -> None:
        self.trigger = trigger or TriggerInfo("http", "test")
        self.worker_id = worker_id
        self._contexts: dict[Callable[..., Any], Context] = {}
        self._runner = Runner()

    # -- contexts -----------------------------------------------------------

    async def acontext_for(self, handler: Callable[..., Any]) -> Context:
        """The handler's context; created, with ``init_context`` run, on first use."""
        context = self._contexts.get(handler)
        if context is None:
            context = Context(
                logger=Logger(worker_id=self.worker_id),
                platform=_NuclioPlatform(kind="local"),
                worker_id=self.worker_id,
                trigger=self.trigger,
            )
            module = sys.modules.get(getattr(handler, "__module__", ""), None)
            init = getattr(module, "init_context", None)
            if callable(init):
                await _maybe_await(init(context))
            self._contexts[handler] = context
        return context

    def context_for(self, handler: Callable[..., Any]) -> Context:
        """Sync form of :meth:`acontext_for`."""
        return self._sync(self.acontext_for(handler))

    @property
    def context(self) -> Context:
        """A context not tied to a handler (as ``nuclio_sdk.test.Platform().context``)."""
        return self.context_for(Platform)

    # -- calling --------------------------------------------------------------

    async def acall_handler(
        self,
        handler: Callable[..., Any],
        event: Event,
        mutator: Callable[[Context], Context] | None = None,
    ) -> Any:
        """``handler(context, event)``, awaited if async, *not* converted (as Nuclio's).

        ``mutator(context)``, if given, returns the context to call with.
        """
        context = await self.acontext_for(handler)
        if mutator is not None:
            context = mutator(context)
        return await _maybe_await(handler(context, event))

    def call_handler(self, handler: Callable[..., Any], event: Event) -> Any:
        """Sync form of :meth:`acall_handler`."""
        return self._sync(self.acall_handler(handler, event))

    def call_handler_with_context_mutation(
        self, handler: Callable[..., Any], event: Event, mutator: Callable[[Context], Context]
    ) -> Any:
        """Call with ``mutator(context)`` as the context (the mutator returns it)."""
        return self._sync(self.acall_handler(handler, event, mutator))

    async def ainvoke(
        self, handler: Callable[..., Any], event: Event | None = None, **event_args: Any
    ) -> Response:
        """Call the handler and convert its result exactly as the runtime would.

        Give an ``event`` or the keyword arguments of :func:`make_event`. A handler that
        raises gives the runtime's 500 response (or its ``ExceptionWithResponse``).
        Use this form inside ``async def`` tests.
        """
        event = event if event is not None else make_event(**event_args)
        try:
            return to_response(await self.acall_handler(handler, event))
        except Exception as exc:  # noqa: BLE001 - the runtime answers, so do we
            return error_response(exc)

    def invoke(
        self, handler: Callable[..., Any], event: Event | None = None, **event_args: Any
    ) -> Response:
        """Sync form of :meth:`ainvoke`."""
        return self._sync(self.ainvoke(handler, event, **event_args))

    @staticmethod
    def event(body: Any = b"", **kwargs: Any) -> Event:
        """An event as the http trigger builds it (see :func:`make_event`)."""
        return make_event(body, **kwargs)

    # -- lifecycle ------------------------------------------------------------

    async def adrain(self) -> None:
        """Run every context's drain callback, as the runtime does on SIGTERM."""
        for context in self._contexts.values():
            await context.platform.run_drain_callback()

    async def aterminate(self) -> None:
        """Run every context's termination callback."""
        for context in self._contexts.values():
            await context.platform.run_termination_callback()

    def drain(self) -> None:
        """Sync form of :meth:`adrain`."""
        self._sync(self.adrain())

    def terminate(self) -> None:
        """Sync form of :meth:`aterminate`."""
        self._sync(self.aterminate())

    def close(self) -> None:
        """Close the event loop that the sync forms ran on."""
        self._runner.close()

    def __enter__(self) -> Platform:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _sync(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self._runner.run(coro)
        coro.close()
        raise RuntimeError(
            "called inside a running event loop: in async tests use the a-forms "
            "(await platform.ainvoke(...), acall_handler, acontext_for, adrain, aterminate)"
        )


async def _maybe_await(value: Any) -> Any:
    if inspect.iscoroutine(value):
        return await value
    return value
