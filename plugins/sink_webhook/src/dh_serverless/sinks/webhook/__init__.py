"""dh-sink-webhook: send each result of a trigger to an HTTP endpoint, with retries.

Registered under the ``dh_serverless.sinks`` entry-point group as ``webhook``.
"""

from __future__ import annotations

from dh_serverless.sinks.webhook.config import WebhookAttributes
from dh_serverless.sinks.webhook.sink import WebhookSink
from dh_serverless.sinks.webhook.version import __version__

__all__ = ("WebhookAttributes", "WebhookSink", "__version__")
