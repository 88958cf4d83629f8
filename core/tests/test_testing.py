"""dh_serverless.testing: the test helper (Nuclio's ``nuclio_sdk.test.Platform``, and more)."""

from __future__ import annotations

import datetime
import importlib
import sys
import textwrap
import uuid

import nuclio_sdk
import pytest

from dh_serverless.core.nuclio import Context
from dh_serverless.hookspecs.types import Event, Response, TriggerInfo
from dh_serverless.testing import Platform, make_event


@pytest.fixture
def module(tmp_path):
    """Import handler code from a file with a unique name, so ``init_context`` is found
    through ``sys.modules`` as Nuclio finds it. sys.path/sys.modules are restored."""
    saved_path = list(sys.path)
    saved_modules = set(sys.modules)
    sys.path.insert(0, str(tmp_path))

    def load(code: str):
        name = f"handlers_{uuid.uuid4().hex[:10]}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(code))
        return importlib.import_module(name)

    yield load
    sys.path[:] = saved_path
    for name in set(sys.modules) - saved_modules:
        del sys.modules[name]


@pytest.fixture
def platform():
    with Platform() as platform:
        yield platform


COUNTING = """\
    calls = []

    def init_context(context):
        calls.append(context)
        context.user_data.hits = 0

    def handler(context, event):
        context.user_data.hits += 1
        return context.user_data.hits

    def other(context, event):
        return "other"
"""


def test_init_context_runs_once_per_handler(platform, module):
    mod = module(COUNTING)
    assert platform.call_handler(mod.handler, Event()) == 1
    assert platform.call_handler(mod.handler, Event()) == 2  # user_data persists
    assert len(mod.calls) == 1
    # As nuclio_sdk.test.Platform: each handler function gets its own context.
    platform.call_handler(mod.other, Event())
    assert len(mod.calls) == 2
    assert mod.calls[0] is not mod.calls[1]


def test_context_is_a_worker_context(platform, module):
    mod = module(COUNTING)
    platform.call_handler(mod.handler, Event())
    context = platform.context_for(mod.handler)
    assert context is mod.calls[0]
    assert isinstance(context, Context)
    assert context.worker_id == "0"
    assert (context.trigger.kind, context.trigger.name) == ("http", "test")
    assert context.trigger_name == "test"
    assert context.platform.kind == "local"


def test_platform_trigger_and_worker_id_can_be_chosen(module):
    mod = module("def handler(context, event):\n    return context.worker_id\n")
    with Platform(trigger=TriggerInfo("cron", "nightly"), worker_id="3") as platform:
        assert platform.call_handler(mod.handler, Event()) == "3"
        context = platform.context_for(mod.handler)
        assert (context.trigger.kind, context.trigger_name) == ("cron", "nightly")


def test_context_property(platform):
    assert isinstance(platform.context, Context)
    assert platform.context is platform.context
    assert platform.kind == "test"


def test_async_handler_and_async_init_context_are_awaited(platform, module):
    mod = module(
        """\
        import asyncio

        async def init_context(context):
            await asyncio.sleep(0)
            context.user_data.ready = True

        async def handler(context, event):
            await asyncio.sleep(0)
            return {"async": context.user_data.ready}
        """
    )
    assert platform.call_handler(mod.handler, Event()) == {"async": True}
    # checklist 6
    response = platform.invoke(mod.handler)
    assert (response.status_code, response.content_type, response.body) == (
        200,
        "application/json",
        b'{"async": true}',
    )


def test_plain_handler_returning_a_coroutine_is_awaited(platform, module):
    # checklist 7
    mod = module(
        """\
        async def work():
            return "done"

        def handler(context, event):
            return work()
        """
    )
    assert platform.invoke(mod.handler).body == b"done"


def test_call_handler_returns_the_raw_result(platform, module):
    mod = module(
        """\
        def handler(context, event):
            return (201, {"k": event.body})
        """
    )
    assert platform.call_handler(mod.handler, make_event(b"x")) == (201, {"k": b"x"})


def test_invoke_converts_like_the_runtime(platform, module):
    mod = module(
        """\
        def handler(context, event):
            return (201, {"k": event.body})
        """
    )
    response = platform.invoke(mod.handler, body={"a": 1})
    assert isinstance(response, Response)
    assert (response.status_code, response.content_type, response.body) == (
        201,
        "application/json",
        b'{"k": {"a": 1}}',
    )


def test_invoke_builds_events_like_the_http_trigger(platform, module):
    mod = module(
        """\
        def handler(context, event):
            return event
        """
    )
    event = platform.call_handler(
        mod.handler, platform.event(b'{"a": 1}', content_type="application/json")
    )
    assert event.body == {"a": 1}
    event = platform.call_handler(mod.handler, platform.event("x", content_type="text/plain"))
    assert event.body == b"x"


def test_invoke_answers_like_the_runtime_when_the_handler_raises(platform, module):
    mod = module(
        """\
        import nuclio_sdk

        def handler(context, event):
            if event.body == b"teapot":
                raise nuclio_sdk.ExceptionWithResponse(418, body="teapot")
            raise ValueError("boom")
        """
    )
    response = platform.invoke(mod.handler, body="x")
    assert (response.status_code, response.body) == (500, b"ValueError: boom")
    response = platform.invoke(mod.handler, body="teapot")
    assert (response.status_code, response.body) == (418, b"teapot")


def test_call_handler_lets_exceptions_through(platform, module):
    mod = module("def handler(context, event):\n    raise ValueError('boom')\n")
    with pytest.raises(ValueError, match="boom"):
        platform.call_handler(mod.handler, Event())


def test_call_handler_with_context_mutation(platform, module):
    mod = module(
        textwrap.dedent(COUNTING) + "\ndef flag(context, event):\n    return context.flag\n"
    )

    def mutator(context):
        context.flag = "mutated"
        return context

    assert platform.call_handler_with_context_mutation(mod.flag, Event(), mutator) == "mutated"
    assert len(mod.calls) == 1  # init_context still ran first


DRAIN = """\
    calls = []

    def init_context(context):
        context.platform.set_drain_callback(lambda: calls.append("drain"))
        context.platform.set_termination_callback(lambda: calls.append("terminate"))

    def handler(context, event):
        return "ok"
"""

ASYNC_DRAIN = """\
    calls = []

    async def on_drain():
        calls.append("drain")

    async def on_terminate():
        calls.append("terminate")

    def init_context(context):
        context.platform.set_drain_callback(on_drain)
        context.platform.set_termination_callback(on_terminate)

    def handler(context, event):
        return "ok"
"""


@pytest.mark.parametrize("code", [DRAIN, ASYNC_DRAIN], ids=["sync", "async"])
def test_drain_and_terminate_run_callbacks_once(platform, module, code):
    mod = module(code)
    platform.invoke(mod.handler)
    platform.drain()
    platform.drain()
    assert mod.calls == ["drain"]
    platform.terminate()
    platform.terminate()
    assert mod.calls == ["drain", "terminate"]


def test_drain_before_any_call_does_nothing(platform):
    platform.drain()
    platform.terminate()


def test_works_with_nuclio_sdk_events(platform, module):
    mod = module("def handler(context, event):\n    return event.get_header('x-a')\n")
    event = nuclio_sdk.Event(body=b"x", headers={"X-A": "1"})
    assert platform.invoke(mod.handler, event).body == b"1"


def test_dh_platform_fixture(dh_platform, module):
    assert isinstance(dh_platform, Platform)
    mod = module("def handler(context, event):\n    return 'Hello, ' + event.body.decode()\n")
    response = dh_platform.invoke(mod.handler, body="World")
    assert (response.status_code, response.body) == (200, b"Hello, World")


# ---------------------------------------------------------------------------
# make_event
# ---------------------------------------------------------------------------


def test_make_event_like_an_http_request():
    event = make_event("hi", headers={"X-A": "1"}, fields={"q": "2"}, path="/a/b")
    assert event.body == b"hi"
    assert event.method == "POST"
    assert event.path == "/a/b"
    assert event.fields == {"q": "2"}
    assert event.get_header("x-a") == "1"
    assert event.size == 2
    assert event.content_type == ""
    assert (event.trigger.kind, event.trigger.name) == ("http", "test")
    # checklist 26 and 27
    assert isinstance(event.id, str)
    assert (event.url, event.shard_id, event.num_shards, event.offset) == ("", -1, 0, 0)
    assert event.last_in_batch is False
    assert isinstance(event.timestamp, datetime.datetime)
    assert event.timestamp.tzinfo is None
    assert event.timestamp.microsecond == 0


def test_make_event_without_body_is_a_get():
    event = make_event()
    assert (event.body, event.method, event.size) == (b"", "GET", 0)


def test_make_event_json_body():
    event = make_event({"a": [1, 2]})
    assert event.body == {"a": [1, 2]}
    assert event.content_type == "application/json"
    assert event.get_header("content-type") == "application/json"


def test_make_event_content_type_from_headers():
    event = make_event(b"[1]", headers={"content-type": "application/json"})
    assert event.content_type == "application/json"
    assert event.body == [1]


def test_make_event_follows_the_decoding_rule():
    assert make_event(b'{"a": 1}', content_type="application/json; charset=utf-8").body == (
        b'{"a": 1}'
    )
    assert make_event(b"{bad", content_type="application/json").body == b"{bad"


async def test_async_forms_work_inside_an_async_test():
    from dh_serverless.testing import Platform as TestPlatform

    calls = []

    async def handler(context, event):
        calls.append(context.worker_id)
        return {"got": event.body}

    platform = TestPlatform()
    response = await platform.ainvoke(handler, body={"a": 1})
    assert (response.status_code, response.body) == (200, b'{"got": {"a": 1}}')
    assert await platform.acall_handler(handler, platform.event(b"x")) == {"got": b"x"}
    with pytest.raises(RuntimeError, match="ainvoke"):
        platform.invoke(handler, body="x")
    platform.close()
    assert calls == ["0", "0"]
