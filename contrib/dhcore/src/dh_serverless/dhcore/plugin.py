"""A hook plugin (group ``dh_serverless.plugins``, name ``dhcore``) for DH Core's own
``handler.py`` templates, which import the DH SDK at module level.

Once the handler is loaded and before any worker runs ``init_context``, it fills the
SDK's registries on one thread (:func:`dh_serverless.dhcore.sdk.warm_up`), so that the
workers of a serve may initialise concurrently. It does nothing when the handler did not
import the SDK (any other function, or ``run_handler``, which serialises its own init),
and adds no middleware: events pay nothing.
"""

from __future__ import annotations

import logging
import sys

from dh_serverless.hookspecs import FunctionInfo, Middleware, impl

__all__ = ("dh_dispatch_middleware",)

_log = logging.getLogger("dh_serverless.dhcore")


@impl
def dh_dispatch_middleware(function: FunctionInfo) -> Middleware | None:
    """Warm the DH SDK up when the handler imported it; offer no middleware."""
    if "digitalhub" in sys.modules:
        from dh_serverless.dhcore.sdk import warm_up

        warm_up()
        _log.debug("DH SDK registries filled before the workers start (%s)", function.handler)
    return None
