"""The ``attributes`` of a ``cron`` trigger, as users write them in ``function.yaml``::

    triggers:
      nightly:
        kind: cron
        attributes:
          schedule: "0 30 2 * * *"      # or: interval: 10s
          event:
            body: '{"scope": "all"}'
            headers: {X-Source: nightly}

An attributes class is a frozen attrs class. The core structures ``attributes`` into it
with its one converter, so keys match ignoring case and underscores, an unknown key is
an error naming its full path, and a ``ValueError`` raised here becomes a configuration
error at start-up (exit code 2) instead of a failure at the first tick.
"""

from __future__ import annotations

from typing import Any

import attrs

from dh_serverless.core.api import Duration
from dh_serverless.triggers.cron.schedule import Timetable, every, parse_schedule

__all__ = ("CronAttributes", "CronEvent")


@attrs.frozen
class CronEvent:
    """The event handed to the handler on each tick (``attributes.event``).

    :param body: sent as its UTF-8 bytes, never JSON-decoded (the content type is empty).
    :param headers: ``event.headers``, values kept as written in YAML.
    :param path: ``event.path``.
    :param method: ``event.method``; empty unless set, as in Nuclio.
    """

    body: str = ""
    headers: dict[str, Any] = attrs.Factory(dict)
    path: str = "/"
    method: str = ""


@attrs.frozen
class CronAttributes:
    """``spec.triggers.<name>.attributes`` of a ``cron`` trigger.

    :param interval: a Go duration (``"10s"``, ``"1m30s"``) between ticks; it wins
        when ``schedule`` is set too, as in Nuclio.
    :param schedule: cron syntax (see :func:`~.schedule.parse_schedule`).
    :param event: what each tick sends.
    """

    interval: Duration | None = None
    schedule: str = ""
    event: CronEvent = attrs.Factory(CronEvent)

    def __attrs_post_init__(self) -> None:
        # Check now, so that a bad schedule fails `dh-serverless validate` and start-up.
        self.timetable()

    def timetable(self) -> Timetable:
        """When the ticks fire; ``ValueError`` names the key to fix."""
        if self.interval is not None:
            try:
                return every(self.interval)
            except ValueError as exc:
                raise ValueError(f"interval: {exc}") from None
        if not self.schedule.strip():
            raise ValueError(
                "set 'interval' (a Go duration such as '30s') or 'schedule' "
                "(cron syntax such as '*/5 * * * *')"
            )
        try:
            return parse_schedule(self.schedule)
        except ValueError as exc:
            raise ValueError(f"schedule {self.schedule!r}: {exc}") from None
