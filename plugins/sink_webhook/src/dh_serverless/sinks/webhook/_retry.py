"""When to try a webhook request again, and how long to wait first."""

from __future__ import annotations

__all__ = ("RETRYABLE_STATUSES", "next_delay", "parse_retry_after")

#: answers worth another attempt: the peer may succeed later. Other 4xx are final.
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header given as a number; None otherwise.

    The HTTP-date form is ignored (the configured backoff applies): webhook receivers
    that ask for a pause use seconds.
    """
    if not value:
        return None
    text = value.strip()
    if not text.isascii() or not text.isdigit():
        return None
    return float(int(text))


def next_delay(
    attempt: int, delay: float, backoff: float, cap: float, retry_after: float | None = None
) -> float:
    """Seconds to wait after failed attempt ``attempt`` (0 for the first attempt).

    ``delay * backoff ** attempt``, at most ``cap``; a ``Retry-After`` from the peer
    replaces it, also at most ``cap``.
    """
    if retry_after is not None:
        return min(retry_after, cap)
    if delay <= 0:
        return 0.0
    try:
        wait = delay * backoff**attempt
    except OverflowError:
        return cap
    return min(wait, cap)
