"""The ``attributes`` of an ``mjpeg`` trigger.

``function.yaml``::

    triggers:
      camera:
        kind: mjpeg
        maxWorkers: 4
        attributes:
          url: http://192.168.1.100:8080/video.mjpg
          processing_factor: 1
          readTimeout: 10s
          sink:
            kind: mjpeg
            attributes: {port: 8081}

Keys match ignoring case and underscores, so the original's ``processing_factor`` and
``processingFactor`` both load. ``sink`` is taken out by the core before these attributes
are structured. Durations are Go durations (``"5s"``, ``"500ms"``) or numbers of seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import attrs

from dh_serverless.core.api import Duration
from dh_serverless.triggers.mjpeg.parser import DEFAULT_MAX_FRAME

__all__ = ("MjpegAttributes",)


def _check_url(_: Any, __: attrs.Attribute[str], value: str) -> None:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"url must be an http:// or https:// URL of the MJPEG stream, got {value!r}"
        )


def _at_least(key: str, low: float) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(_: Any, __: attrs.Attribute[Any], value: float) -> None:
        if value < low:
            raise ValueError(f"{key} must be at least {low:g}, got {value:g}")

    return check


def _positive(key: str) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(_: Any, __: attrs.Attribute[Any], value: float) -> None:
        if not value > 0:
            raise ValueError(f"{key} must be greater than 0, got {value!r}")

    return check


@attrs.frozen
class MjpegAttributes:
    """``spec.triggers.<name>.attributes`` of an ``mjpeg`` trigger.

    :param url: the MJPEG stream (``multipart/x-mixed-replace``, or raw concatenated JPEGs).
    :param processing_factor: handle every Nth frame (1: all of them).
    :param reconnect_delay: wait this long before reconnecting to a lost source; doubles
        after each failed attempt up to ``max_reconnect_delay``.
    :param max_reconnect_delay: the back-off cap.
    :param connect_timeout: give up a connection attempt after this long.
    :param read_timeout: a connected source that sends no frame for this long is lost.
    :param max_frame_size: larger frames are dropped (bytes).
    :param headers: extra request headers (``Authorization``, cookies, ...).
    :param username: HTTP basic authentication user (with ``password``).
    :param password: HTTP basic authentication password.
    :param order_wait: results reach the sink in frame order; a result waits at most this
        long for the frames before it, then the late ones are dropped.
    :param verify_tls: check the certificate of an ``https://`` source (cameras often have
        self-signed ones: set ``false`` for those).
    """

    url: str = attrs.field(validator=_check_url)
    processing_factor: int = attrs.field(default=1, validator=_at_least("processingFactor", 1))
    reconnect_delay: Duration = attrs.field(
        default=Duration(5.0), validator=_at_least("reconnectDelay", 0)
    )
    max_reconnect_delay: Duration = attrs.field(
        default=Duration(60.0), validator=_at_least("maxReconnectDelay", 0)
    )
    connect_timeout: Duration = attrs.field(
        default=Duration(10.0), validator=_positive("connectTimeout")
    )
    read_timeout: Duration = attrs.field(default=Duration(10.0), validator=_positive("readTimeout"))
    max_frame_size: int = attrs.field(
        default=DEFAULT_MAX_FRAME, validator=_at_least("maxFrameSize", 1024)
    )
    headers: dict[str, str] = attrs.Factory(dict)
    username: str | None = None
    password: str | None = attrs.field(default=None, repr=False)
    order_wait: Duration = attrs.field(default=Duration(0.5), validator=_at_least("orderWait", 0))
    verify_tls: bool = True

    def __attrs_post_init__(self) -> None:
        if self.max_reconnect_delay < self.reconnect_delay:
            object.__setattr__(self, "max_reconnect_delay", self.reconnect_delay)
        if (self.password is not None) and self.username is None:
            raise ValueError("password is set but username is not: set both for basic auth")
