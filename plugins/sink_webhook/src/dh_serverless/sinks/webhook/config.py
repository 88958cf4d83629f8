"""The ``attributes`` of a ``webhook`` sink, as the original's ``function.yaml`` writes them.

``function.yaml``::

    sink:
      kind: webhook
      attributes:
        url: http://localhost:8888/webhook
        method: POST
        headers:
          X-API-Key: test-api-key-12345
        timeout: 10
        maxRetries: 3
        retryDelay: 1

Keys match ignoring case and underscores (``maxRetries``, ``max_retries``). Durations are
seconds (``10``) or Go durations (``"500ms"``).
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from dh_serverless.core.api import Duration, validators

__all__ = ("WebhookAttributes",)

# RFC 9110 token: what a method and a header name may contain.
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def _upper(value: str) -> str:
    return value.upper()


def _check_method(_: Any, __: attrs.Attribute[str], value: str) -> None:
    if not _TOKEN.match(value):
        raise ValueError(f"method: not an HTTP method: {value!r}")


@attrs.frozen
class WebhookAttributes:
    """``attributes`` of a ``webhook`` sink.

    :param url: where each result is sent (``http`` or ``https``).
    :param method: the request method.
    :param headers: extra request headers; a ``Content-Type`` here replaces the result's.
    :param timeout: seconds one attempt may take, connection to last byte of the answer.
    :param max_retries: attempts after the first one, for a transport error, a timeout,
        408, 425, 429 or a 5xx answer (other answers are final).
    :param retry_delay: seconds before the first retry; each next one waits
        ``retry_backoff`` times longer, at most ``max_retry_delay``.
    :param retry_backoff: the factor between two retry delays.
    :param max_retry_delay: the longest wait between two attempts (also caps ``Retry-After``).
    :param max_concurrency: results being delivered at once (retry waits included); as many
        more may wait in the sink, the rest wait in the core's sink queue, whose oldest are
        dropped when it is full.
    :param metadata_headers: send the event's metadata as ``X-DH-*`` headers.
    :param flush_timeout: on shutdown, seconds to let requests in flight finish.
    """

    url: str = attrs.field(validator=validators.url(("http", "https")))
    method: str = attrs.field(default="POST", converter=_upper, validator=_check_method)
    headers: dict[str, str] = attrs.field(factory=dict, validator=validators.header_names())
    timeout: Duration = attrs.field(
        default=Duration(10.0), validator=validators.at_least(0.001, "timeout")
    )
    max_retries: int = attrs.field(default=3, validator=validators.at_least(0, "maxRetries"))
    retry_delay: Duration = attrs.field(
        default=Duration(1.0), validator=validators.at_least(0, "retryDelay")
    )
    retry_backoff: float = attrs.field(
        default=2.0, validator=validators.at_least(1, "retryBackoff")
    )
    max_retry_delay: Duration = attrs.field(
        default=Duration(30.0), validator=validators.at_least(0, "maxRetryDelay")
    )
    max_concurrency: int = attrs.field(
        default=4, validator=validators.at_least(1, "maxConcurrency")
    )
    metadata_headers: bool = True
    flush_timeout: Duration = attrs.field(
        default=Duration(5.0), validator=validators.at_least(0, "flushTimeout")
    )
