"""dh-serverless-dhcore: run DH Core's python job and serve functions on dh-serverless.

DH Core's function.yaml names ``run_handler:init_context`` / ``handler_job`` /
``handler_serve``: the top-level ``run_handler`` module of this distribution. The DH SDK
is imported on first use (in ``init_context``), never when this package is imported.
"""

from __future__ import annotations

from dh_serverless.dhcore.bridge import SOURCE_ROOT_ENV, handler_job, handler_serve, init_context
from dh_serverless.dhcore.version import __version__

__all__ = ("SOURCE_ROOT_ENV", "__version__", "handler_job", "handler_serve", "init_context")
