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
from yarl import URL

from dh_serverless.core.config import Duration

__all__ = ("WebhookAttributes",)

# RFC 9110 token: what a method and a header name may contain.
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def _check_url(_: Any, __: attrs.Attribute[str], value: str) -> None:
    try:
        url = URL(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"url: not a URL: {value!r} ({exc})") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"url: expected http://host[:port]/path or https://..., got {value!r}")


def _upper(value: str) -> str:
    return value.upper()


def _check_method(_: Any, __: attrs.Attribute[str], value: str) -> None:
    if not _TOKEN.match(value):
        raise ValueError(f"method: not an HTTP method: {value!r}")


def _check_headers(_: Any, __: attrs.Attribute[dict[str, str]], value: dict[str, str]) -> None:
    for name, text in value.items():
        if not _TOKEN.match(name):
            raise ValueError(f"headers: not a header name: {name!r}")
        if "\r" in text or "\n" in text:
            raise ValueError(f"headers.{name}: a header value cannot contain a line break")


def _at_least(key: str, low: float) -> Any:
    def check(_: Any, __: attrs.Attribute[float], value: float) -> None:
        if value < low:
            raise ValueError(f"{key}: must be at least {low:g}, got {value:g}")

    return check


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

    url: str = attrs.field(validator=_check_url)
    method: str = attrs.field(default="POST", converter=_upper, validator=_check_method)
    headers: dict[str, str] = attrs.field(factory=dict, validator=_check_headers)
    timeout: Duration = attrs.field(default=Duration(10.0), validator=_at_least("timeout", 0.001))
    max_retries: int = attrs.field(default=3, validator=_at_least("maxRetries", 0))
    retry_delay: Duration = attrs.field(default=Duration(1.0), validator=_at_least("retryDelay", 0))
    retry_backoff: float = attrs.field(default=2.0, validator=_at_least("retryBackoff", 1))
    max_retry_delay: Duration = attrs.field(
        default=Duration(30.0), validator=_at_least("maxRetryDelay", 0)
    )
    max_concurrency: int = attrs.field(default=4, validator=_at_least("maxConcurrency", 1))
    metadata_headers: bool = True
    flush_timeout: Duration = attrs.field(
        default=Duration(5.0), validator=_at_least("flushTimeout", 0)
    )
