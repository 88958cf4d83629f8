"""The job trigger: hand one configured event to the handler, then exit with its outcome.

A one-shot run (a Kubernetes Job, a batch step): ``start()`` schedules the event and
returns at once; when the handler has answered, the trigger prints the status and the
body to stdout and asks the runtime to exit with 0 (any 2xx status) or 1 (anything else).
"""

from __future__ import annotations

import asyncio
import http
from typing import ClassVar

from dh_serverless.core.api import drain_tasks, new_event
from dh_serverless.hookspecs import (
    Dispatch,
    DispatchError,
    Event,
    Response,
    TriggerInfo,
    TriggerSpec,
)
from dh_serverless.triggers.job.config import JobAttributes

__all__ = ("JobTrigger",)

#: Content types whose body is printed as text; other bodies are summarised by size.
_TEXT_SUFFIXES = ("json", "xml", "yaml", "javascript", "x-www-form-urlencoded")


class JobTrigger:
    """Runs the handler once with ``attributes.event`` and requests the exit code."""

    kind: ClassVar[str] = "job"
    attributes_type: ClassVar[type] = JobAttributes
    one_shot: ClassVar[bool] = True

    def __init__(self, spec: TriggerSpec) -> None:
        self.name = spec.name
        self._spec = spec
        self._task: asyncio.Task[None] | None = None

    async def start(self, dispatch: Dispatch) -> None:
        """Schedule the one event and return without waiting for the handler."""
        self._task = asyncio.create_task(self._run(dispatch), name=f"dh-job-{self.name}")

    async def stop(self, timeout: float) -> None:
        """Let a still-running event finish for up to ``timeout`` seconds, then cancel it.

        A cancelled job requests no exit code: the runtime is already shutting down.
        """
        task = self._task
        if task is None or task.done() or task is asyncio.current_task():
            return
        await drain_tasks((task,), timeout, grace=None)

    def build_event(self) -> Event:
        """The event handed to the handler, made fresh from the configuration."""
        config = self._spec.attributes.event
        raw = config.body.encode("utf-8")
        return new_event(
            raw,
            trigger=TriggerInfo(self.kind, self.name),
            content_type=config.content_type,
            headers=config.headers,
            method=config.method,
            path=config.path,
        )

    async def _run(self, dispatch: Dispatch) -> None:
        code = 1
        try:
            response = await dispatch(self.build_event())
        except DispatchError as exc:
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            _print(f"job {self.name!r} failed: {_status(exc.status_code)} ({detail})")
        except Exception:
            self._spec.logger.exception("job %r: the event could not be dispatched", self.name)
            _print(f"job {self.name!r} failed: the event could not be dispatched")
        else:
            ok = 200 <= response.status_code < 300
            outcome = "succeeded" if ok else "failed"
            _print(f"job {self.name!r} {outcome}: {_status(response.status_code)}")
            _print_body(response)
            code = 0 if ok else 1
        self._spec.request_exit(code)


def _status(code: int) -> str:
    try:
        return f"{code} {http.HTTPStatus(code).phrase}"
    except ValueError:
        return str(code)


def _print(text: str) -> None:
    print(text, flush=True)


def _print_body(response: Response) -> None:
    body = response.body
    if not body:
        return
    if not isinstance(body, bytes):  # a middleware may answer with an unconverted str body
        body = str(body).encode("utf-8")
    media = (response.content_type or "").split(";", 1)[0].strip().lower()
    if media.startswith("text/") or media.endswith(_TEXT_SUFFIXES):
        text = body.decode("utf-8", errors="replace")
        _print(text[:-1] if text.endswith("\n") else text)
    else:
        _print(f"<{len(body)} bytes of {media or 'unknown content type'}>")
