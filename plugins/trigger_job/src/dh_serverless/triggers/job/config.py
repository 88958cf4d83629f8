"""The ``attributes`` of a ``job`` trigger.

``function.yaml``::

    triggers:
      job:
        kind: job
        attributes:
          event:
            body: '{"text": "hello"}'
            contentType: application/json
            headers: {X-Run-Id: "42"}

Keys match ignoring case and underscores (``contentType``, ``content_type``), so the
original's configurations (``event``/``Event``, ``body``, ``path``, ``method``,
``headers``) load unchanged.
"""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ("JobAttributes", "JobEvent")


@attrs.frozen
class JobEvent:
    """The one event a job hands to the handler.

    :param body: sent as its UTF-8 bytes.
    :param path: ``event.path``; ``"/"`` as in Nuclio's cron and job events.
    :param method: ``event.method``; empty unless set, as in the original.
    :param headers: ``event.headers``, values kept exactly as written in YAML.
    :param content_type: ``event.content_type``; exactly ``application/json`` makes
        ``event.body`` the decoded JSON value (Nuclio's body rule).
    """

    body: str = ""
    path: str = "/"
    method: str = ""
    headers: dict[str, Any] = attrs.Factory(dict)
    content_type: str = ""


@attrs.frozen
class JobAttributes:
    """``spec.triggers.<name>.attributes`` of a ``job`` trigger."""

    event: JobEvent = attrs.Factory(JobEvent)
