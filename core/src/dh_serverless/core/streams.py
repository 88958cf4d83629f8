"""Dispatching the events of a stream (camera frames, audio chunks), where nobody waits for
the answer: each event is counted as processed or failed, and failures are logged
throttled, the first and then one in a hundred at warning level (a broken handler on a
30 fps stream would otherwise write 30 lines a second), the rest at debug level.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from dh_serverless.hookspecs import Dispatch, DispatchError, Event, ShuttingDownError
from dh_serverless.hookspecs.metrics import CounterCell

__all__ = ("StreamDispatch",)


class StreamDispatch:
    """``await stream(event)``: dispatch one stream event and count its outcome.

    :param dispatch: the core's dispatch callable.
    :param processed: counted when the handler answered below 400.
    :param failed: counted otherwise (the runtime's refusal, a handler error, a 4xx/5xx).
    :param logger: where failures are reported, throttled.
    :param name: how a failed event is named in the log (``"frame 12"``).
    :param every: one failure in ``every`` is logged at warning level.
    """

    __slots__ = ("_dispatch", "_failures", "_logger", "_name", "every", "failed", "processed")

    def __init__(
        self,
        dispatch: Dispatch,
        *,
        processed: CounterCell,
        failed: CounterCell,
        logger: logging.Logger,
        name: Callable[[Event], str],
        every: int = 100,
    ) -> None:
        self._dispatch = dispatch
        self.processed = processed
        self.failed = failed
        self._logger = logger
        self._name = name
        self.every = max(1, every)
        self._failures = 0

    async def __call__(self, event: Event) -> None:
        try:
            response = await self._dispatch(event)
        except ShuttingDownError:
            self.failed.inc()  # the function is draining: expected, not worth a line
            return
        except (DispatchError, Exception) as exc:  # noqa: BLE001 - one event must not stop a stream
            self._fail(event, f"{type(exc).__name__}: {exc}")
            return
        if response.status_code < 400:
            self.processed.inc()
            return
        text = response.body[:200].decode("utf-8", "replace")
        self._fail(event, f"status {response.status_code}: {text}")

    def _fail(self, event: Event, what: str) -> None:
        self.failed.inc()
        self._failures += 1
        level = logging.WARNING if (self._failures - 1) % self.every == 0 else logging.DEBUG
        self._logger.log(level, "%s failed: %s", self._name(event), what)
