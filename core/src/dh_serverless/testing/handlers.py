"""Handlers the testing harnesses run (importable by ``module:function``).

``dh_serverless.testing.handlers:echo`` answers what it was sent, so what a test pushes
is the result a sink receives.
"""

from __future__ import annotations

from typing import Any

__all__ = ("ECHO", "echo")

#: The ``spec.handler`` of :func:`echo`.
ECHO = "dh_serverless.testing.handlers:echo"


def echo(context: Any, event: Any) -> Any:
    """The body back, with its content type.

    The status is the event's ``status`` field (default 200); on path ``/raise`` it raises
    ``RuntimeError("boom")`` (the runtime answers 500).
    """
    if event.path == "/raise":
        raise RuntimeError("boom")
    status = int(event.get_field("status") or 200)
    return context.Response(
        body=event.body,
        content_type=event.content_type or "application/octet-stream",
        status_code=status,
    )
