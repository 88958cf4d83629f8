"""What the stream triggers share: their attributes, source link, metrics and events."""

from __future__ import annotations

import datetime
import logging

import attrs
import pytest

from dh_serverless.core.api import (
    UTC,
    SourceLink,
    SourceMetrics,
    SourceTrigger,
    StreamEvents,
    redact_url,
    trigger_attributes,
)
from dh_serverless.hookspecs import FunctionInfo, TriggerInfo, TriggerSpec
from dh_serverless.hookspecs.metrics import Metrics


@attrs.frozen
class CamAttributes:
    url: str = ""
    order_wait: float = 0.5
    reconnect_delay: float = 1.0
    max_reconnect_delay: float = 4.0


def spec_of(attributes: object, caplog: pytest.LogCaptureFixture | None = None) -> TriggerSpec:
    return TriggerSpec(
        name="cam", kind="cam", attributes=attributes, function=FunctionInfo("f"),
        logger=logging.getLogger("test.cam"),
    )  # fmt: skip


def test_trigger_attributes_are_the_triggers_class_or_a_type_error():
    attributes = CamAttributes("rtsp://x")
    assert trigger_attributes(spec_of(attributes), CamAttributes, "cam") is attributes
    with pytest.raises(TypeError, match="the cam trigger needs CamAttributes"):
        trigger_attributes(spec_of({"url": "x"}), CamAttributes, "cam")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rtsp://cam/live", "rtsp://cam/live"),
        ("rtsp://user:secret@cam:554/live", "rtsp://user:***@cam:554/live"),
        ("http://:secret@cam/x?y=1", "http://cam/x?y=1"),
        ("rtsp://u:p@[::1]:8554/s", "rtsp://u:***@[::1]:8554/s"),
    ],
)
def test_redact_url_hides_the_password_only(url, shown):
    assert redact_url(url) == shown


def test_the_source_link_backs_off_doubling_and_restarts_after_data(caplog):
    caplog.set_level(logging.INFO, logger="test.cam")
    link = SourceLink(
        spec_of(CamAttributes()), "cam", " rtsp://u:pw@cam/live ", reconnect_delay=0.5,
        max_reconnect_delay=1.5,
    )  # fmt: skip
    assert (link.url, link.public_url) == ("rtsp://u:pw@cam/live", "rtsp://u:***@cam/live")
    link.connected = True
    assert link.is_connected() == 1.0
    waits = [link.lost("refused", got_data=False) for _ in range(4)]
    assert waits == [0.5, 1.0, 1.5, 1.5]
    assert not link.connected
    assert link.lost("the stream ended", got_data=True) == 0.5
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "cam trigger cam lost rtsp://u:***@cam/live: refused; reconnecting in 0.5s"
    assert all("pw" not in line for line in lines)


def test_source_metrics_are_named_by_prefix_and_read_the_link():
    registry = Metrics()
    link = SourceLink(
        spec_of(CamAttributes()), "cam", "x", reconnect_delay=1, max_reconnect_delay=1
    )
    m = SourceMetrics(
        registry, "cam", link, prefix="dh_cam", received="Frames", events="events",
        reasons=("sampled", "failed"),
    )  # fmt: skip
    assert sorted(f.name for f in registry) == [
        "dh_cam_connected", "dh_cam_events_dropped", "dh_cam_events_processed",
        "dh_cam_frames_received", "dh_cam_reconnects", "dh_cam_source_fps",
    ]  # fmt: skip
    m.dropped["sampled"].inc()
    assert registry.families["dh_cam_events_dropped"].labels("cam", "sampled").value == 1
    link.connected = True
    assert registry.families["dh_cam_connected"].labels("cam").read() == 1.0


def test_stream_events_are_numbered_and_carry_their_exact_time():
    events = StreamEvents(TriggerInfo("cam", "front"), url="rtsp://cam", path="/p", method="rtsp")
    when = datetime.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    event = events(
        b"jpeg", 12, kind="rtsp-video", content_type="image/jpeg", fields={"frame_num": 12},
        size=4, timestamp=when,
    )  # fmt: skip
    assert (event.id, event.type, event.body, event.size) == ("front-12", "rtsp-video", b"jpeg", 4)
    assert (event.url, event.path, event.method) == ("rtsp://cam", "/p", "rtsp")
    assert event.timestamp == when
    assert (event.trigger.kind, event.trigger.name) == ("cam", "front")
    assert event.get_field("frame_num") == 12
    assert events(b"", "3-1", kind="k", content_type="", fields={}, size=0, timestamp=when).id == (
        "front-3-1"
    )


class CamTrigger(SourceTrigger[CamAttributes]):
    kind = "cam"
    attributes_type = CamAttributes

    def source_url(self, attributes: CamAttributes) -> str:
        return attributes.url


def test_a_source_trigger_is_made_from_its_spec_alone():
    trigger = CamTrigger(spec_of(CamAttributes(" rtsp://u:pw@cam/live ")), method="cam")
    assert (trigger.name, trigger.sink_order_wait) == ("cam", 0.5)
    assert (trigger.url, trigger.public_url) == ("rtsp://u:pw@cam/live", "rtsp://u:***@cam/live")
    assert not trigger.connected
    trigger.link.connected = True
    assert trigger.connected
    when = datetime.datetime.now(UTC)
    event = trigger.events(b"x", 1, kind="cam", content_type="", fields={}, size=1, timestamp=when)
    assert (event.id, event.path, event.method) == ("cam-1", "rtsp://u:***@cam/live", "cam")
    assert trigger.link.lost("gone", got_data=False) == 1.0
    unordered = CamTrigger(spec_of(CamAttributes("x", order_wait=0)))
    assert unordered.sink_order_wait is None
    with pytest.raises(TypeError, match="the cam trigger needs CamAttributes"):
        CamTrigger(spec_of(object()))
