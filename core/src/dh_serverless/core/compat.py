"""What Python 3.11 added that the core and its plugins use, for Python 3.10.

DH Core builds runtime images for Python 3.10 to 3.13, so the core and the plugins those images
carry run on 3.10. Import these names instead of the 3.11 ones:

==========================  =====================================  ==========================
here                        Python 3.11+                           Python 3.10
==========================  =====================================  ==========================
``UTC``                     ``datetime.UTC``                       ``datetime.timezone.utc``
``timeout(seconds)``        ``asyncio.timeout``                    ``async_timeout.timeout``
``TIMEOUT_ERRORS``          ``(TimeoutError,)``                    also ``asyncio.TimeoutError``,
                                                                   a different class on 3.10
``Runner``                  ``asyncio.Runner``                     a small equivalent
==========================  =====================================  ==========================
"""

from __future__ import annotations

import asyncio
import datetime
import sys
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, TypeVar

__all__ = ("TIMEOUT_ERRORS", "UTC", "Runner", "timeout")

T = TypeVar("T")

UTC = datetime.timezone.utc  # datetime.UTC is 3.11+

#: Catch these where a timeout may come from asyncio (``wait_for``, ``timeout``).
TIMEOUT_ERRORS: tuple[type[BaseException], ...] = (TimeoutError, asyncio.TimeoutError)

if sys.version_info >= (3, 11):
    from asyncio import Runner, timeout
else:  # pragma: no cover - exercised by the Python 3.10 run of the core's tests
    from async_timeout import timeout

    class Runner:
        """``asyncio.Runner`` of Python 3.11, as much of it as dh-serverless uses."""

        def __init__(
            self, *, loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
        ) -> None:
            self._factory = loop_factory
            self._loop: asyncio.AbstractEventLoop | None = None

        def get_loop(self) -> asyncio.AbstractEventLoop:
            """The runner's loop, created on first use."""
            if self._loop is None:
                self._loop = self._factory() if self._factory else asyncio.new_event_loop()
                asyncio.set_event_loop(self._loop)
            return self._loop

        def run(self, coro: Coroutine[Any, Any, T]) -> T:
            """Run ``coro`` to completion on the runner's loop."""
            loop = self.get_loop()
            task = loop.create_task(coro)
            return loop.run_until_complete(task)

        def close(self) -> None:
            """Cancel what is left, finish async generators and the executor, close."""
            loop = self._loop
            if loop is None or loop.is_closed():
                return
            try:
                pending = asyncio.all_tasks(loop)
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                asyncio.set_event_loop(None)
                loop.close()

        def __enter__(self) -> Runner:
            return self

        def __exit__(
            self,
            kind: type[BaseException] | None,
            exc: BaseException | None,
            tb: TracebackType | None,
        ) -> None:
            self.close()
