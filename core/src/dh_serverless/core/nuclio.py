"""The objects a Nuclio handler sees besides the event: Context, Logger and Platform.

They keep the names and behaviour of ``nuclio_sdk`` (``worker_id`` is a ``str``,
``logger.info_with`` adds structured fields, ``platform.set_drain_callback``), so
handlers written for Nuclio run unchanged.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Callable
from typing import Any

from dh_serverless.hookspecs.types import Response, TriggerInfo

__all__ = ("Context", "Logger", "Platform")


class Logger:
    """Nuclio's logger: ``debug/info/warn/error`` and their ``*_with`` forms.

    Records go to the standard ``logging`` logger ``dh_serverless.function``; the
    structured fields (``with``), including the bound ``worker_id``, travel in the
    record's ``with`` attribute and are printed by the runtime's formatters.
    """

    __slots__ = ("_bound", "_logger")

    def __init__(self, logger: logging.Logger | None = None, **bound: Any) -> None:
        self._logger = logger or logging.getLogger("dh_serverless.function")
        self._bound = bound

    def _log(self, level: int, message: Any, args: tuple[Any, ...], fields: dict[str, Any]) -> None:
        if self._logger.isEnabledFor(level):
            self._logger.log(level, message, *args, extra={"with": {**fields, **self._bound}})

    def debug(self, message: Any, *args: Any) -> None:
        """Log at debug level; ``args`` are applied with ``%``."""
        self._log(logging.DEBUG, message, args, {})

    def info(self, message: Any, *args: Any) -> None:
        """Log at info level."""
        self._log(logging.INFO, message, args, {})

    def warn(self, message: Any, *args: Any) -> None:
        """Log at warning level."""
        self._log(logging.WARNING, message, args, {})

    def error(self, message: Any, *args: Any) -> None:
        """Log at error level."""
        self._log(logging.ERROR, message, args, {})

    def debug_with(self, message: Any, *args: Any, **fields: Any) -> None:
        """Log at debug level with structured ``fields``."""
        self._log(logging.DEBUG, message, args, fields)

    def info_with(self, message: Any, *args: Any, **fields: Any) -> None:
        """Log at info level with structured ``fields``."""
        self._log(logging.INFO, message, args, fields)

    def warn_with(self, message: Any, *args: Any, **fields: Any) -> None:
        """Log at warning level with structured ``fields``."""
        self._log(logging.WARNING, message, args, fields)

    def error_with(self, message: Any, *args: Any, **fields: Any) -> None:
        """Log at error level with structured ``fields``."""
        self._log(logging.ERROR, message, args, fields)

    # Not in nuclio-sdk; offered because Python programmers reach for them.
    warning = warn
    warning_with = warn_with

    def exception(self, message: Any, *args: Any) -> None:
        """Log at error level with the current exception's traceback."""
        self._logger.exception(message, *args, extra={"with": dict(self._bound)})

    def bind(self, **fields: Any) -> None:
        """Add ``fields`` to every later record of this logger."""
        self._bound.update(fields)


class Platform:
    """``context.platform``: where the function runs, and its drain/termination callbacks."""

    def __init__(self, kind: str | None = None, namespace: str = "default") -> None:
        self.kind = kind or ("kube" if os.environ.get("KUBERNETES_SERVICE_HOST") else "local")
        self.namespace = namespace
        self._termination_callback: Callable[[], Any] | None = None
        self._drain_callback: Callable[[], Any] | None = None

    def set_termination_callback(self, callback: Callable[[], Any]) -> None:
        """Run ``callback()`` once when the runtime shuts down (replaces any earlier one)."""
        self._termination_callback = callback

    def set_drain_callback(self, callback: Callable[[], Any]) -> None:
        """Run ``callback()`` once when the runtime starts draining (replaces any earlier one)."""
        self._drain_callback = callback

    async def run_drain_callback(self) -> None:
        """Run and forget the drain callback (awaited if it returns a coroutine)."""
        callback, self._drain_callback = self._drain_callback, None
        await _call_maybe_async(callback)

    async def run_termination_callback(self) -> None:
        """Run and forget the termination callback (awaited if it returns a coroutine)."""
        callback, self._termination_callback = self._termination_callback, None
        await _call_maybe_async(callback)

    async def explicit_ack(self, qualified_offset: Any) -> None:
        """Stream acknowledgements need a stream trigger; none is installed."""
        raise RuntimeError("explicit_ack needs a stream trigger that supports acknowledgements")

    def call_function(self, *args: Any, **kwargs: Any) -> Any:
        """Not supported: call the other function's HTTP trigger with any HTTP client."""
        raise NotImplementedError(
            "platform.call_function is not supported; call the function's HTTP trigger instead"
        )


async def _call_maybe_async(callback: Callable[[], Any] | None) -> None:
    if callback is None:
        return
    result = callback()
    if inspect.isawaitable(result):
        await result


class Context:
    """``context``: the per-worker object handed to ``init_context`` and every event."""

    Response = Response

    def __init__(
        self,
        logger: Logger | None = None,
        platform: Platform | None = None,
        worker_id: str | None = None,
        trigger: TriggerInfo | None = None,
    ) -> None:
        self.logger = logger or Logger()
        self.platform = platform or Platform("test")
        self.worker_id = worker_id
        self.trigger = trigger
        if trigger is not None:
            self.trigger_name = trigger.name
        self.user_data: Any = lambda: None
