"""The contract plugin authors import: markers, types, protocols and dispatch errors."""

from __future__ import annotations

import inspect

import pluggy
import pytest

from dh_serverless import hookspecs
from dh_serverless.hookspecs import (
    NAME,
    DispatchError,
    Event,
    EventTimeoutError,
    FunctionInfo,
    Response,
    ShuttingDownError,
    Sink,
    Trigger,
    TriggerInfo,
    TriggerSpec,
    WorkerBusyError,
    WorkerLostError,
    impl,
    specs,
)


def test_markers_share_the_project_name():
    assert NAME == "dh_serverless"
    assert isinstance(impl, pluggy.HookimplMarker)
    assert specs.hookspec.project_name == NAME


def test_every_hook_is_prefixed_and_registered_as_a_spec():
    manager = pluggy.PluginManager(NAME)
    manager.add_hookspecs(specs)
    names = {n for n, f in vars(specs).items() if inspect.isfunction(f) and n.startswith("dh_")}
    assert names == {
        "dh_register_converters",
        "dh_dispatch_middleware",
        "dh_trigger_started",
        "dh_trigger_stopped",
        "dh_sink_emit",
    }
    for name in names:
        assert getattr(manager.hook, name).spec is not None


def test_a_plugin_implementing_an_unknown_hook_is_rejected():
    manager = pluggy.PluginManager(NAME)
    manager.add_hookspecs(specs)

    class Typo:
        @impl
        def dh_trigger_startd(self, trigger):
            pass

    manager.register(Typo())
    with pytest.raises(pluggy.PluginValidationError):
        manager.check_pending()


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (WorkerBusyError, 503),
        (ShuttingDownError, 503),
        (EventTimeoutError, 504),
        (WorkerLostError, 500),
    ],
)
def test_dispatch_errors_carry_their_http_answer(error, status):
    assert issubclass(error, DispatchError)
    assert error("x").status_code == status


def test_event_keeps_nuclios_constructor_and_defaults():
    event = Event(_id="abc", _type="t", body=b"x", headers={"X-A": "1"})
    assert (event.id, event.type, event.body, event.path, event.timestamp) == (
        "abc",
        "t",
        b"x",
        "/",
        0,
    )
    assert event.get_header("x-a") == "1"
    assert event.get_header("missing") is None
    assert event.trigger == TriggerInfo()
    event.custom = 1  # handlers may hang their own attributes on events
    assert '"body": "eA=="' in event.to_json()


def test_response_keeps_nuclios_constructor():
    response = Response(body="b", status_code=201)
    assert (response.headers, response.content_type, response.event_id) == ({}, "text/plain", None)
    assert repr(response).startswith("Response(headers={}, body='b', status_code=201")


def test_protocols_are_structural():
    class MyTrigger:
        attributes_type = dict
        name = "t"
        kind = "mine"

        async def start(self, dispatch):
            pass

        async def stop(self, timeout):
            pass

    class NotASink:
        async def start(self):
            pass

    assert isinstance(MyTrigger(), Trigger)
    assert not isinstance(NotASink(), Sink)
    spec = TriggerSpec(name="t", kind="mine", attributes=None, function=FunctionInfo("f"))
    assert spec.workers == 1
    assert spec.request_exit(0) is None
    assert set(hookspecs.__all__) >= {"impl", "Event", "Response", "Trigger", "Sink"}
