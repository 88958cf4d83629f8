"""The attributes class and the schedule syntax (no event loop needed)."""

from __future__ import annotations

import datetime

import pytest

from dh_serverless.core.config import structure
from dh_serverless.core.errors import ConfigError
from dh_serverless.triggers.cron import CronAttributes
from dh_serverless.triggers.cron.schedule import every, parse_schedule

PATH = ("spec", "triggers", "tick", "attributes")


def load(raw: object) -> CronAttributes:
    return structure(raw, CronAttributes, source="function.yaml", path=PATH)


def config_error(raw: object) -> str:
    with pytest.raises(ConfigError) as info:
        load(raw)
    return str(info.value)


def at(*args: int) -> float:
    """A local wall-clock time as a Unix time (cron reads local time)."""
    return datetime.datetime(*args).timestamp()  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# Attributes
# ---------------------------------------------------------------------------


def test_interval_is_a_go_duration() -> None:
    assert load({"interval": "50ms"}).interval == pytest.approx(0.05)
    assert load({"Interval": "1m30s"}).interval == 90


def test_interval_wins_over_schedule() -> None:
    timetable = load({"interval": "10s", "schedule": "@hourly"}).timetable()
    assert timetable(1000.0) == 1010.0


def test_event_defaults_and_keys_in_any_case() -> None:
    event = load({"interval": "1s"}).event
    assert (event.body, event.headers, event.path, event.method) == ("", {}, "/", "")
    event = load(
        {"interval": "1s", "Event": {"Body": "x", "HEADERS": {"A": 5}, "Path": "/p"}}
    ).event
    assert (event.body, event.headers, event.path) == ("x", {"A": 5}, "/p")


def test_neither_interval_nor_schedule_is_a_config_error() -> None:
    for raw in (None, {}, {"schedule": "  "}, {"event": {"body": "x"}}):
        message = config_error(raw)
        assert "spec.triggers.tick.attributes" in message
        assert "set 'interval'" in message
        assert "'schedule'" in message


@pytest.mark.parametrize("interval", ["0s", "-1s"])
def test_interval_must_be_positive(interval: str) -> None:
    assert "interval: must be a positive duration" in config_error({"interval": interval})


def test_interval_must_be_a_duration() -> None:
    message = config_error({"interval": "often"})
    assert "spec.triggers.tick.attributes.interval" in message
    assert "Go duration" in message


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("* * * *", "use 5 fields"),
        ("0 0 0 1 1 * 2030", "use 5 fields"),
        ("61 * * * *", "not valid cron syntax"),
        ("@fortnightly", "not valid cron syntax"),
        ("@every", "'@every <duration>'"),
        ("@every soon", "invalid duration"),
        ("@every 0s", "positive duration"),
        ("0 0 30 2 *", "matches no date"),
    ],
)
def test_invalid_schedule_is_a_config_error(schedule: str, expected: str) -> None:
    message = config_error({"schedule": schedule})
    assert f"spec.triggers.tick.attributes: schedule {schedule!r}: " in message
    assert expected in message


def test_unknown_key_suggests_the_nearest() -> None:
    message = config_error({"intervall": "1s"})
    assert "spec.triggers.tick.attributes.intervall" in message
    assert "interval" in message


# ---------------------------------------------------------------------------
# Schedule syntax
# ---------------------------------------------------------------------------


def test_every() -> None:
    assert every(0.05)(10.0) == pytest.approx(10.05)
    with pytest.raises(ValueError, match="positive"):
        every(0)


def test_five_fields_are_standard_cron() -> None:
    next_tick = parse_schedule("*/5 * * * *")
    assert next_tick(at(2024, 1, 1, 10, 2, 30)) == at(2024, 1, 1, 10, 5)
    assert next_tick(at(2024, 1, 1, 10, 5)) == at(2024, 1, 1, 10, 10)  # strictly after


def test_six_fields_put_seconds_first() -> None:
    next_tick = parse_schedule("*/10 * * * * *")
    assert next_tick(at(2024, 1, 1, 10, 0, 3)) == at(2024, 1, 1, 10, 0, 10)
    nightly = parse_schedule("0 30 2 * * *")
    assert nightly(at(2024, 1, 1, 10, 0)) == at(2024, 1, 2, 2, 30)


def test_a_seconds_field_of_star_means_zero() -> None:
    next_tick = parse_schedule("* */5 * * * *")
    assert next_tick(at(2024, 1, 1, 10, 2, 30)) == at(2024, 1, 1, 10, 5, 0)
    assert next_tick(at(2024, 1, 1, 10, 5, 0)) == at(2024, 1, 1, 10, 10, 0)  # not 10:05:01
    # Only exactly `*` is rewritten: a step in the seconds field keeps its meaning.
    assert parse_schedule("*/1 * * * * *")(at(2024, 1, 1, 10, 0, 0)) == at(2024, 1, 1, 10, 0, 1)


def test_descriptors() -> None:
    assert parse_schedule("@hourly")(at(2024, 1, 1, 10, 2)) == at(2024, 1, 1, 11, 0)
    assert parse_schedule("@daily")(at(2024, 1, 1, 10, 2)) == at(2024, 1, 2, 0, 0)
    assert parse_schedule("@every 5m")(1000.0) == 1300.0
    assert parse_schedule("@every 1m30s")(1000.0) == 1090.0
    assert parse_schedule(" @hourly ")(at(2024, 1, 1, 10, 2)) == at(2024, 1, 1, 11, 0)


def test_extra_whitespace_is_ignored() -> None:
    assert parse_schedule("  0  12 * * *  ")(at(2024, 1, 1, 10, 0)) == at(2024, 1, 1, 12, 0)
