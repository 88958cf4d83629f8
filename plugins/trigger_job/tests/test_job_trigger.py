"""Unit tests of the job trigger with a fake ``dispatch`` (no runtime, no workers)."""

from __future__ import annotations

import asyncio
import datetime
import logging
import uuid
from typing import Any

import pytest

from dh_serverless.core.config import structure
from dh_serverless.core.errors import ConfigError
from dh_serverless.hookspecs import (
    Event,
    EventTimeoutError,
    FunctionInfo,
    Response,
    Trigger,
    TriggerInfo,
    TriggerSpec,
    WorkerBusyError,
)
from dh_serverless.triggers.job import JobAttributes, JobTrigger

pytestmark = pytest.mark.timeout(5)


class ExitRecorder:
    """Stands in for the runtime's ``request_exit``: records codes, wakes a waiter."""

    def __init__(self) -> None:
        self.codes: list[int] = []
        self._called = asyncio.Event()

    def __call__(self, code: int) -> None:
        self.codes.append(code)
        self._called.set()

    async def wait(self) -> list[int]:
        await asyncio.wait_for(self._called.wait(), 2)
        return self.codes


class FakeDispatch:
    """Records events and answers with ``answer`` (a Response, or an exception to raise)."""

    def __init__(self, answer: Response | BaseException) -> None:
        self.answer = answer
        self.events: list[Event] = []

    async def __call__(self, event: Event) -> Response:
        self.events.append(event)
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


def make_trigger(attributes: dict[str, Any] | None = None) -> tuple[JobTrigger, ExitRecorder]:
    exits = ExitRecorder()
    spec = TriggerSpec(
        name="nightly",
        kind="job",
        attributes=structure(attributes, JobAttributes, source="function.yaml"),
        function=FunctionInfo(name="fn"),
        logger=logging.getLogger("dh_serverless.trigger.nightly"),
        request_exit=exits,
    )
    return JobTrigger(spec), exits


async def run_job(
    answer: Response | BaseException, attributes: dict[str, Any] | None = None
) -> tuple[FakeDispatch, list[int]]:
    trigger, exits = make_trigger(attributes)
    dispatch = FakeDispatch(answer)
    await trigger.start(dispatch)
    codes = await exits.wait()
    await trigger.stop(1.0)
    return dispatch, codes


# ---------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------


def test_class_matches_the_trigger_protocol() -> None:
    trigger, _ = make_trigger()
    assert isinstance(trigger, Trigger)
    assert (trigger.kind, trigger.name, trigger.attributes_type) == (
        "job",
        "nightly",
        JobAttributes,
    )


def test_defaults() -> None:
    event = structure(None, JobAttributes, source="f.yaml").event
    assert (event.body, event.path, event.method, event.headers, event.content_type) == (
        "",
        "/",
        "",
        {},
        "",
    )


def test_keys_of_the_original_load_in_any_case() -> None:
    raw = {"Event": {"Body": "x", "PATH": "/run", "Method": "PUT", "content-type": "text/csv"}}
    event = structure(raw, JobAttributes, source="f.yaml").event
    assert (event.body, event.path, event.method, event.content_type) == (
        "x",
        "/run",
        "PUT",
        "text/csv",
    )


def test_unknown_key_names_the_path_and_suggests() -> None:
    with pytest.raises(ConfigError) as info:
        structure(
            {"event": {"bodi": "x"}},
            JobAttributes,
            source="function.yaml",
            path=("spec", "triggers", "job", "attributes"),
        )
    assert "spec.triggers.job.attributes.event.bodi" in str(info.value)
    assert "body" in str(info.value)


# ---------------------------------------------------------------------------
# Outcome and exit code
# ---------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
async def test_any_2xx_requests_exit_0(status: int, capsys: pytest.CaptureFixture[str]) -> None:
    _, codes = await run_job(Response(body=b"done", status_code=status))
    assert codes == [0]
    out = capsys.readouterr().out
    assert f"job 'nightly' succeeded: {status}" in out
    assert "done" in out


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [199, 300, 404, 500])
async def test_non_2xx_requests_exit_1(status: int, capsys: pytest.CaptureFixture[str]) -> None:
    _, codes = await run_job(
        Response(body=b"ZeroDivisionError: division by zero", status_code=status)
    )
    assert codes == [1]
    out = capsys.readouterr().out
    assert f"job 'nightly' failed: {status}" in out
    assert "ZeroDivisionError: division by zero" in out


@pytest.mark.asyncio
async def test_status_line_and_body_are_readable(capsys: pytest.CaptureFixture[str]) -> None:
    body = '{"body": {"text": "héllo"}}\n'.encode()
    await run_job(Response(body=body, content_type="application/json"))
    assert capsys.readouterr().out == (
        "job 'nightly' succeeded: 200 OK\n" + '{"body": {"text": "héllo"}}\n'
    )


@pytest.mark.asyncio
async def test_invalid_utf8_text_is_printed_with_replacement(
    capsys: pytest.CaptureFixture[str],
) -> None:
    await run_job(Response(body=b"ok \xff", content_type="text/plain; charset=utf-8"))
    assert capsys.readouterr().out.splitlines()[1] == "ok \ufffd"


@pytest.mark.asyncio
async def test_binary_body_is_summarised(capsys: pytest.CaptureFixture[str]) -> None:
    await run_job(Response(body=b"\x89PNG\r\n", content_type="image/png"))
    assert capsys.readouterr().out.splitlines()[1] == "<6 bytes of image/png>"


@pytest.mark.asyncio
async def test_empty_body_prints_only_the_status(capsys: pytest.CaptureFixture[str]) -> None:
    await run_job(Response(body=b"", status_code=204))
    assert capsys.readouterr().out == "job 'nightly' succeeded: 204 No Content\n"


@pytest.mark.asyncio
@pytest.mark.parametrize("error", [WorkerBusyError("all busy"), EventTimeoutError()])
async def test_dispatch_error_requests_exit_1(
    error: Exception, capsys: pytest.CaptureFixture[str]
) -> None:
    _, codes = await run_job(error)
    assert codes == [1]
    out = capsys.readouterr().out
    assert f"failed: {error.status_code}" in out  # type: ignore[attr-defined]
    assert type(error).__name__ in out


@pytest.mark.asyncio
async def test_unexpected_exception_requests_exit_1(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    _, codes = await run_job(RuntimeError("boom"))
    assert codes == [1]
    assert "failed" in capsys.readouterr().out
    assert "boom" in caplog.text


@pytest.mark.asyncio
async def test_unconverted_str_body_from_a_middleware_is_printed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, codes = await run_job(Response(body="invalid API key", status_code=401))
    assert codes == [1]
    assert capsys.readouterr().out == "job 'nightly' failed: 401 Unauthorized\ninvalid API key\n"


# ---------------------------------------------------------------------------
# The event
# ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_event_fields() -> None:
    attributes = {
        "event": {
            "body": "héllo",
            "path": "/run",
            "method": "POST",
            "headers": {"X-Run": "42", "X-Count": 5, "X-Flag": True},
        }
    }
    before = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0)
    dispatch, _ = await run_job(Response(), attributes)
    after = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    (event,) = dispatch.events
    assert event.body == "héllo".encode()
    assert event.size == len("héllo".encode())
    assert event.content_type == ""
    assert event.trigger == TriggerInfo("job", "nightly")
    assert event.headers == {"X-Run": "42", "X-Count": 5, "X-Flag": True}  # values kept as given
    assert event.get_header("x-run") == "42"
    assert (event.path, event.method, event.url, event.fields) == ("/run", "POST", "", {})
    assert uuid.UUID(event.id).version == 4
    assert event.timestamp.tzinfo is None
    assert before <= event.timestamp <= after  # now, not the original's epoch 0


@pytest.mark.asyncio
async def test_default_event() -> None:
    dispatch, _ = await run_job(Response())
    (event,) = dispatch.events
    assert (event.body, event.path, event.method, event.headers) == (b"", "/", "", {})


@pytest.mark.asyncio
async def test_json_body_is_decoded_only_for_exactly_application_json() -> None:
    body = '{"text": "Test text. Job is done."}'
    dispatch, _ = await run_job(
        Response(), {"event": {"body": body, "contentType": "application/json"}}
    )
    assert dispatch.events[0].body == {"text": "Test text. Job is done."}
    assert dispatch.events[0].content_type == "application/json"

    for content_type in ("", "application/json; charset=utf-8", "Application/JSON", "text/plain"):
        dispatch, _ = await run_job(
            Response(), {"event": {"body": body, "contentType": content_type}}
        )
        assert dispatch.events[0].body == body.encode()


@pytest.mark.asyncio
async def test_invalid_json_stays_bytes() -> None:
    dispatch, _ = await run_job(
        Response(), {"event": {"body": "{bad", "contentType": "application/json"}}
    )
    assert dispatch.events[0].body == b"{bad"


@pytest.mark.asyncio
async def test_handler_mutating_headers_does_not_change_the_configuration() -> None:
    trigger, _ = make_trigger({"event": {"headers": {"A": "1"}}})
    trigger.build_event().headers["A"] = "changed"
    assert trigger.build_event().headers == {"A": "1"}


# ---------------------------------------------------------------------------
# start / stop
# ---------------------------------------------------------------------------


class BlockingDispatch:
    """A dispatch whose handler runs until ``release`` is set; records cancellation."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.cancelled = False

    async def __call__(self, event: Event) -> Response:
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return Response(body=b"late")


@pytest.mark.asyncio
async def test_start_returns_before_the_handler_finishes() -> None:
    trigger, exits = make_trigger()
    dispatch = BlockingDispatch()
    await asyncio.wait_for(trigger.start(dispatch), 0.5)
    await asyncio.wait_for(dispatch.started.wait(), 1)
    assert exits.codes == []
    dispatch.release.set()
    assert await exits.wait() == [0]
    await trigger.stop(1.0)


@pytest.mark.asyncio
async def test_stop_cancels_a_running_job_and_requests_no_exit() -> None:
    trigger, exits = make_trigger()
    dispatch = BlockingDispatch()
    await trigger.start(dispatch)
    await dispatch.started.wait()
    await asyncio.wait_for(trigger.stop(0.05), 1)
    assert dispatch.cancelled
    assert exits.codes == []


@pytest.mark.asyncio
async def test_stop_lets_the_event_finish_within_the_timeout() -> None:
    trigger, exits = make_trigger()
    dispatch = BlockingDispatch()
    await trigger.start(dispatch)
    await dispatch.started.wait()
    asyncio.get_running_loop().call_later(0.05, dispatch.release.set)
    await asyncio.wait_for(trigger.stop(2.0), 1)
    assert not dispatch.cancelled
    assert exits.codes == [0]


@pytest.mark.asyncio
async def test_stop_before_start_and_twice_is_harmless() -> None:
    trigger, _ = make_trigger()
    await trigger.stop(0)
    await trigger.start(FakeDispatch(Response()))
    await trigger.stop(1.0)
    await trigger.stop(1.0)
