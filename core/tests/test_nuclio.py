"""The objects a handler touches: Context, Logger, Platform, Event, Response (§1.4, §1.5, §2)."""

from __future__ import annotations

import base64
import datetime
import inspect
import json
import logging

import nuclio_sdk
import pytest

from dh_serverless.core.logs import JsonFormatter
from dh_serverless.core.nuclio import Context, Logger, Platform
from dh_serverless.core.responses import to_response
from dh_serverless.core.workers import WorkerOptions, make_context
from dh_serverless.hookspecs.types import Event, Response, TriggerInfo

FUNCTION_LOGGER = "dh_serverless.function"

# ---------------------------------------------------------------------------
# Context
# ---------------------------------------------------------------------------


def test_worker_context_as_the_runtime_builds_it():
    # checklist 9-12
    context = make_context(WorkerOptions(TriggerInfo("http", "web"), namespace="shop"), 3)
    assert context.worker_id == "3"
    assert isinstance(context.worker_id, str)
    assert (context.trigger.kind, context.trigger.name) == ("http", "web")
    assert context.trigger_name == "web"
    assert not hasattr(context, "trigger_kind")
    assert context.platform.kind in ("local", "kube")
    assert context.platform.namespace == "shop"
    assert isinstance(context.logger, Logger)


def test_bare_context_defaults_match_nuclio_sdk():
    ours, theirs = Context(), nuclio_sdk.Context()
    assert ours.worker_id is theirs.worker_id is None
    assert ours.trigger is theirs.trigger is None
    assert not hasattr(ours, "trigger_name")
    assert not hasattr(theirs, "trigger_name")
    assert ours.platform.kind == theirs.platform.kind == "test"
    assert callable(ours.user_data)


def test_context_constructor_takes_nuclios_keywords():
    ours = list(inspect.signature(Context).parameters)
    theirs = list(inspect.signature(nuclio_sdk.Context).parameters)
    assert ours == theirs[: len(ours)]
    assert ours == ["logger", "platform", "worker_id", "trigger"]


def test_user_data_is_an_attribute_bag():
    context = Context()
    context.user_data.model = "m"
    context.user_data.count = 0
    context.user_data.count += 1
    assert (context.user_data.model, context.user_data.count) == ("m", 1)


def test_context_response_is_usable():
    # checklist 13: handlers build responses with context.Response(...)
    response = Context().Response(body="x", headers={"X-A": "1"}, status_code=201)
    converted = to_response(response)
    assert (converted.status_code, converted.body, converted.headers) == (201, b"x", {"X-A": "1"})
    assert Context.Response is Response


# ---------------------------------------------------------------------------
# Platform
# ---------------------------------------------------------------------------


def test_platform_kind(monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert Platform().kind == "local"
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    assert Platform().kind == "kube"
    assert Platform("test").kind == "test"
    assert Platform(namespace="shop").namespace == "shop"


async def test_drain_and_termination_callbacks_run_once():
    platform = Platform()
    calls = []
    platform.set_drain_callback(lambda: calls.append("first drain"))
    platform.set_drain_callback(lambda: calls.append("drain"))  # replaces the first
    platform.set_termination_callback(lambda: calls.append("terminate"))
    await platform.run_drain_callback()
    await platform.run_drain_callback()
    await platform.run_termination_callback()
    await platform.run_termination_callback()
    assert calls == ["drain", "terminate"]


async def test_async_callbacks_are_awaited():
    platform = Platform()
    calls = []

    async def drain():
        calls.append("drain")

    platform.set_drain_callback(drain)
    platform.set_termination_callback(lambda: drain())  # a plain callable returning a coroutine
    await platform.run_drain_callback()
    await platform.run_termination_callback()
    assert calls == ["drain", "drain"]


async def test_no_callback_is_fine():
    await Platform().run_drain_callback()
    await Platform().run_termination_callback()


async def test_explicit_ack_and_call_function_say_why_they_fail():
    with pytest.raises(RuntimeError, match="stream trigger"):
        await Platform().explicit_ack(None)
    with pytest.raises(NotImplementedError, match="HTTP trigger"):
        Platform().call_function("other", Event())


# ---------------------------------------------------------------------------
# Logger
# ---------------------------------------------------------------------------


@pytest.fixture
def records(caplog):
    caplog.set_level(logging.DEBUG, logger=FUNCTION_LOGGER)
    return caplog


def only_record(caplog) -> logging.LogRecord:
    (record,) = [r for r in caplog.records if r.name == FUNCTION_LOGGER]
    return record


@pytest.mark.parametrize(
    "name",
    [
        "debug",
        "info",
        "warn",
        "error",
        "debug_with",
        "info_with",
        "warn_with",
        "error_with",
        "bind",
    ],
)
def test_logger_has_nuclios_methods(name):
    # checklist 14
    assert callable(getattr(Logger(), name))
    assert callable(getattr(nuclio_sdk.Logger(logging.DEBUG), name))


def test_info_with_carries_the_fields_and_worker_id(records):
    # checklist 16
    context = make_context(WorkerOptions(TriggerInfo("http", "web")), 0)
    context.logger.info_with("m", a=1)
    record = only_record(records)
    assert record.levelno == logging.INFO
    assert record.getMessage() == "m"
    assert record.__dict__["with"] == {"a": 1, "worker_id": "0"}


def test_info_with_as_a_json_record(records):
    Logger(worker_id="2").info_with("scored", order=7, score=0.5)
    entry = json.loads(JsonFormatter().format(only_record(records)))
    assert entry["level"] == "info"
    assert entry["message"] == "scored"
    assert entry["with"] == {"order": 7, "score": 0.5, "worker_id": "2"}


@pytest.mark.parametrize("method", ["warn", "warn_with"])
def test_warn_is_level_warning(records, method):
    # checklist 15
    getattr(Logger(worker_id="0"), method)("careful")
    record = only_record(records)
    assert record.levelno == logging.WARNING
    assert json.loads(JsonFormatter().format(record))["level"] == "warning"


@pytest.mark.parametrize(
    ("method", "level"),
    [("debug", logging.DEBUG), ("info", logging.INFO), ("error", logging.ERROR)],
)
def test_levels(records, method, level):
    getattr(Logger(), method)("x")
    assert only_record(records).levelno == level


def test_percent_args_are_applied(records):
    # checklist 17
    Logger().debug("dbg %s", "arg")
    assert only_record(records).getMessage() == "dbg arg"


def test_percent_args_with_fields(records):
    Logger().error_with("failed %d times", 3, reason="timeout")
    record = only_record(records)
    assert record.getMessage() == "failed 3 times"
    assert record.__dict__["with"] == {"reason": "timeout"}


def test_percent_sign_without_args_is_left_alone(records):
    Logger().info("100% done")
    assert only_record(records).getMessage() == "100% done"


def test_bind_adds_fields_to_later_records(records):
    logger = Logger(worker_id="1")
    logger.bind(request="r-1")
    logger.info("x")
    assert only_record(records).__dict__["with"] == {"worker_id": "1", "request": "r-1"}


def test_disabled_level_logs_nothing(caplog):
    caplog.set_level(logging.WARNING, logger=FUNCTION_LOGGER)
    Logger().debug_with("hidden", a=1)
    Logger().info("hidden")
    assert [r for r in caplog.records if r.name == FUNCTION_LOGGER] == []


# ---------------------------------------------------------------------------
# Event (§2.1, checklist 24, 25, 30)
# ---------------------------------------------------------------------------

EVENT_ATTRIBUTES = [
    "body", "content_type", "fields", "headers", "id", "last_in_batch", "method", "num_shards",
    "offset", "path", "shard_id", "size", "timestamp", "topic", "type", "type_version", "url",
    "version",
]  # fmt: skip


def test_event_defaults_match_nuclio_sdk():
    ours, theirs = Event(), nuclio_sdk.Event()
    for name in EVENT_ATTRIBUTES:
        assert getattr(ours, name) == getattr(theirs, name), name
    assert (ours.trigger.kind, ours.trigger.name) == (theirs.trigger.kind, theirs.trigger.name)
    # checklist 30, spelled out
    assert ours.path == "/"
    assert ours.headers == {}
    assert ours.fields == {}
    assert ours.timestamp == 0
    assert ours.body is None
    assert ours.trigger.kind == ""
    assert ours.id is None
    assert ours.last_in_batch is False
    assert ours.offset == 0


def test_event_constructor_keywords_match_nuclio_sdk():
    ours = list(inspect.signature(Event).parameters)
    theirs = list(inspect.signature(nuclio_sdk.Event).parameters)
    assert ours == theirs[: len(ours)]
    event = Event(_id="abc", _type="t", method="GET", shard_id=-1, num_shards=0)
    assert (event.id, event.type, event.method, event.shard_id) == ("abc", "t", "GET", -1)


def test_get_header_ignores_case():
    event = Event(headers={"X-My-Header": "v", "Content-Type": "text/plain"})
    assert event.get_header("x-my-header") == "v"
    assert event.get_header("X-MY-HEADER") == "v"
    assert event.get_header("X-My-Header") == "v"
    assert event.headers.get("x-my-header") is None  # plain dict access is case-sensitive
    assert event.get_header("missing") is None


def test_get_header_returns_false_values():
    event = Event(headers={"X-Empty": "", "X-Zero": 0})
    assert event.get_header("x-empty") == ""
    assert event.get_header("X-ZERO") == 0


def test_get_field():
    event = Event(fields={"x": "1", "frame_num": 7})
    assert event.get_field("x") == "1"
    assert event.get_field("frame_num") == 7
    assert event.get_field("missing") is None


def test_to_json_matches_nuclio_sdk():
    kwargs = dict(
        body=b"\x00hi\xff",
        content_type="application/octet-stream",
        headers={"X-A": "1"},
        fields={"q": "2"},
        _id="abc",
        method="POST",
        path="/p",
        size=4,
        timestamp=datetime.datetime(2024, 5, 1, 12, 0, 0),
        url="",
        shard_id=-1,
        num_shards=0,
    )
    ours = Event(trigger=TriggerInfo("http", "web"), **kwargs)
    theirs = nuclio_sdk.Event(trigger=nuclio_sdk.TriggerInfo("http", "web"), **kwargs)
    data = json.loads(ours.to_json())
    assert data == json.loads(theirs.to_json())
    assert base64.b64decode(data["body"]) == b"\x00hi\xff"
    assert data["trigger"] == {"kind": "http", "name": "web"}
    assert data["timestamp"] == "2024-05-01 12:00:00"
    assert repr(ours) == ours.to_json()


def test_to_json_writes_other_objects_with_str():
    data = json.loads(Event(body={"s": {1}}, headers={"when": datetime.date(2024, 5, 1)}).to_json())
    assert data["body"] == {"s": "{1}"}
    assert data["headers"] == {"when": "2024-05-01"}


def test_handlers_may_set_their_own_attributes_on_events():
    event = Event()
    event.custom = 1
    assert event.custom == 1


# ---------------------------------------------------------------------------
# Response and TriggerInfo
# ---------------------------------------------------------------------------


def test_response_defaults_and_repr_match_nuclio_sdk():
    assert repr(Response()) == repr(nuclio_sdk.Response())
    full = dict(headers={"a": "b"}, body="b", content_type="text/html", status_code=201)
    assert repr(Response(**full)) == repr(nuclio_sdk.Response(**full))
    response = Response(content_type="")
    assert (response.headers, response.body, response.status_code) == ({}, None, 200)
    assert response.content_type == "text/plain"


def test_ensure_no_ack():
    response = Response()
    response.ensure_no_ack()
    assert response.headers == {"x-nuclio-stream-no-ack": True}


def test_trigger_info():
    assert TriggerInfo("http", "web") == TriggerInfo("http", "web")
    assert TriggerInfo("http", "web") != TriggerInfo("cron", "web")
    assert len({TriggerInfo("http", "web"), TriggerInfo("http", "web")}) == 1
    assert repr(TriggerInfo("http", "web")) == "TriggerInfo(kind='http', name='web')"
    assert (TriggerInfo().kind, TriggerInfo().name) == ("", "")
