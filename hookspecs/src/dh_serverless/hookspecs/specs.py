"""Hook specifications of dh-serverless.

Every hook is called with keyword arguments, at start-up or shutdown, never per
event, except ``dh_sink_emit``, which the core skips outright when no plugin
implements it. Implementations may accept a subset of the arguments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import cattrs

    from dh_serverless.hookspecs.protocols import FunctionInfo, Sink, Trigger
    from dh_serverless.hookspecs.types import Event, Middleware, Response

hookspec = pluggy.HookspecMarker("dh_serverless")

# ---------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------


@hookspec
def dh_register_converters(converter: cattrs.Converter) -> None:
    """Register cattrs structure hooks for a plugin's own attribute types.

    Called once, after plugins are loaded and before any ``attributes`` are structured.

    :param converter: the core's single converter; add hooks with
        ``converter.register_structure_hook(MyType, fn)``.
    :return: nothing.
    """


# ---------------------------------------------------------------------------
# Dispatch: collected once at start-up, never called per event
# ---------------------------------------------------------------------------


@hookspec
def dh_dispatch_middleware(function: FunctionInfo) -> Middleware | None:
    """Offer one async middleware for the dispatch chain of ``function``.

    Called once, after the handler is loaded. The core composes every middleware
    returned, in plugin registration order (the first returned is the outermost),
    around the call of the handler on a worker. A middleware sees the event before
    and the converted response after the handler, may answer without calling the
    handler, and may be async. When no plugin returns one, events go straight to the
    workers with no extra call.

    :param function: the function being served.
    :return: an ``async (event, call_next) -> Response`` callable, or ``None``.
    """


# ---------------------------------------------------------------------------
# Lifecycle notifications
# ---------------------------------------------------------------------------


@hookspec
def dh_trigger_started(trigger: Trigger) -> None:
    """Called after ``trigger.start()`` returned: the trigger is serving.

    :param trigger: the trigger instance (``trigger.name``, ``trigger.kind``).
    :return: nothing; an exception is logged and does not stop the function.
    """


@hookspec
def dh_trigger_stopped(trigger: Trigger) -> None:
    """Called after ``trigger.stop()`` returned during shutdown.

    :param trigger: the trigger instance.
    :return: nothing; an exception is logged and does not stop the shutdown.
    """


# ---------------------------------------------------------------------------
# Sinks
# ---------------------------------------------------------------------------


@hookspec
def dh_sink_emit(sink: Sink, response: Response, event: Event) -> bool | None:
    """Observe or filter one item before the core hands it to ``sink``.

    Called for each successful response of a trigger that has a sink, on the sink's
    own task (never on the trigger's path). Skipped entirely when no plugin
    implements it.

    :param sink: the sink instance about to receive the item.
    :param response: the converted response.
    :param event: the event that produced it.
    :return: ``False`` to drop the item; ``None`` or ``True`` to let it through.
    """
