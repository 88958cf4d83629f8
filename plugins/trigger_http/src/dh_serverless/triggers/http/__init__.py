"""dh-trigger-http: Nuclio's ``http`` trigger for dh-serverless, on aiohttp.

Registered under the ``dh_serverless.triggers`` entry-point group as ``http``; the core
registers this module's hook implementations (``dh_register_converters``).
"""

from __future__ import annotations

from dh_serverless.triggers.http.config import CorsConfig, HttpAttributes
from dh_serverless.triggers.http.trigger import (
    HttpTrigger,
    canonical_header_name,
    dh_register_converters,
)
from dh_serverless.triggers.http.version import __version__

__all__ = (
    "CorsConfig",
    "HttpAttributes",
    "HttpTrigger",
    "__version__",
    "canonical_header_name",
    "dh_register_converters",
)
