"""When a cron trigger fires, as a *timetable*: ``next_tick(after) -> when``.

Both arguments are Unix times in seconds. ``interval`` gives a constant delay; cron
syntax is evaluated in the machine's local time zone by ``croniter``, with Nuclio's
rules on top: six fields put seconds first, and a seconds field of exactly ``*``
means ``0`` (once a minute, not every second).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

from croniter import CroniterBadDateError, croniter

from dh_serverless.core.api import parse_go_duration

__all__ = ("Timetable", "every", "parse_schedule")

#: ``next_tick(after)``: the Unix time of the first tick strictly after ``after``.
Timetable = Callable[[float], float]

_SYNTAX = (
    "use 5 fields (minute hour day month weekday, e.g. '*/5 * * * *'), 6 fields with "
    "seconds first ('0 30 2 * * *'), or a descriptor ('@hourly', '@every 5m')"
)


def every(seconds: float) -> Timetable:
    """A tick every ``seconds`` after the previous one."""
    if seconds <= 0:
        raise ValueError(f"must be a positive duration such as '30s', got {seconds!r} seconds")
    return lambda after: after + seconds


def parse_schedule(text: str) -> Timetable:
    """Parse Nuclio's ``schedule``; raise ``ValueError`` explaining the accepted forms."""
    fields = text.split()
    if fields[:1] == ["@every"]:
        if len(fields) != 2:
            raise ValueError("write '@every <duration>', e.g. '@every 5m'")
        return every(parse_go_duration(fields[1]))
    if len(fields) == 6 and fields[0] == "*":
        fields[0] = "0"
    if not (len(fields) in (5, 6) or (len(fields) == 1 and fields[0].startswith("@"))):
        raise ValueError(_SYNTAX)
    expression = " ".join(fields)
    try:
        croniter(expression, second_at_beginning=True).get_next()
    except CroniterBadDateError:
        raise ValueError("matches no date") from None
    except (ValueError, KeyError) as exc:
        raise ValueError(f"not valid cron syntax ({exc}); {_SYNTAX}") from None

    def next_tick(after: float) -> float:
        start = datetime.datetime.fromtimestamp(after)  # naive local time, as cron reads it
        it = croniter(expression, start, second_at_beginning=True)
        return float(it.get_next(datetime.datetime).timestamp())

    return next_tick
