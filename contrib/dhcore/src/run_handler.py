"""The module DH Core's function.yaml names: ``run_handler:handler_job`` or ``handler_serve``.

The original image shipped it at ``/opt/nuclio/run_handler.py``; here it is installed by
dh-serverless-dhcore. Importing it does not import the DH SDK (``init_context`` does).
"""

from __future__ import annotations

from dh_serverless.dhcore.bridge import handler_job, handler_serve, init_context

__all__ = ("handler_job", "handler_serve", "init_context")
