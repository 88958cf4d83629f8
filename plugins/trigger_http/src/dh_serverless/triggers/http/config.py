"""The ``attributes`` of an ``http`` trigger, as Nuclio's ``function.yaml`` writes them.

``function.yaml``::

    triggers:
      http:
        kind: http
        numWorkers: 4
        attributes:
          port: 8080
          maxRequestBodySize: 1048576
          cors:
            enabled: true
            allowOrigins: ["https://shop.example.com"]

Keys match ignoring case and underscores (``maxRequestBodySize``, ``max_request_body_size``).
Keys Nuclio reads for the platform (``reduceMemoryUsage``, ``mode``, ``serviceType``,
``disablePortPublishing``, ``ingresses``, ``cors.preflightRequestMethod``) are accepted and
ignored so that Nuclio configurations load unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NewType

import attrs
import cattrs

__all__ = (
    "DEFAULT_ALLOW_HEADERS",
    "DEFAULT_ALLOW_METHODS",
    "DEFAULT_MAX_REQUEST_BODY_SIZE",
    "DEFAULT_READ_BUFFER_SIZE",
    "CorsConfig",
    "HttpAttributes",
    "Names",
    "register_converters",
)

DEFAULT_MAX_REQUEST_BODY_SIZE = 4 * 1024 * 1024  #: Nuclio's default, 4 MiB
DEFAULT_READ_BUFFER_SIZE = 16 * 1024  #: Nuclio's default; also the request-header limit
DEFAULT_ALLOW_METHODS = ("HEAD", "GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")
DEFAULT_ALLOW_HEADERS = (
    "Accept",
    "Content-Length",
    "Content-Type",
    "Authorization",
    "X-Nuclio-Log-Level",
)

#: A list of origins, methods or header names. YAML gives a list (``["GET", "POST"]``);
#: a comma-separated string (``"GET, POST"``, as Nuclio's docs print the defaults) is
#: accepted too.
Names = NewType("Names", tuple[str, ...])


def _structure_names(value: Any, _: type) -> Names:
    if isinstance(value, str):
        return Names(tuple(part.strip() for part in value.split(",") if part.strip()))
    if not isinstance(value, (list, tuple)):
        raise TypeError(
            f'expected a list such as ["GET", "POST"], got {type(value).__name__} {value!r}'
        )
    names = []
    for index, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise TypeError(f"item {index}: expected text, got {type(item).__name__} {item!r}")
        names.append(str(item))
    return Names(tuple(names))


def register_converters(converter: cattrs.Converter) -> None:
    """Teach ``converter`` the http trigger's own types (:data:`Names`); the core calls it
    through the ``dh_register_converters`` hook before it structures ``attributes``."""
    converter.register_structure_hook(Names, _structure_names)


# Nuclio: "a configured CORS list replaces the default list", and an empty one keeps it.
def _origins_or_default(value: tuple[str, ...]) -> Names:
    return Names(tuple(value) or ("*",))


def _methods_or_default(value: tuple[str, ...]) -> Names:
    return Names(tuple(value) or DEFAULT_ALLOW_METHODS)


def _headers_or_default(value: tuple[str, ...]) -> Names:
    return Names(tuple(value) or DEFAULT_ALLOW_HEADERS)


# Nuclio: 0 means the default size.
def _body_size_or_default(value: int) -> int:
    return value or DEFAULT_MAX_REQUEST_BODY_SIZE


def _buffer_size_or_default(value: int) -> int:
    return value or DEFAULT_READ_BUFFER_SIZE


def _non_negative(key: str) -> Callable[[Any, attrs.Attribute[int], int], None]:
    def check(_: Any, __: attrs.Attribute[int], value: int) -> None:
        if value < 0:
            raise ValueError(
                f"{key} must be 0 (the default) or a positive number of bytes, got {value}"
            )

    return check


def _check_port(_: Any, __: attrs.Attribute[int], value: int) -> None:
    if not 0 <= value <= 65535:
        raise ValueError(f"port must be between 1 and 65535 (0: any free port), got {value}")


@attrs.frozen
class CorsConfig:
    """``attributes.cors``: cross-origin resource sharing, answered by the trigger.

    With ``enabled``, a preflight request (``OPTIONS`` with ``Access-Control-Request-Method``)
    is answered by the trigger and never reaches the handler; other requests reach the
    handler and carry ``Access-Control-Allow-Origin`` when their ``Origin`` is allowed.
    An empty list keeps the default list, as in Nuclio. Origins, methods and header names
    are compared ignoring case.
    """

    enabled: bool = False
    allow_origins: Names = attrs.field(default=Names(("*",)), converter=_origins_or_default)
    allow_methods: Names = attrs.field(
        default=Names(DEFAULT_ALLOW_METHODS), converter=_methods_or_default
    )
    allow_headers: Names = attrs.field(
        default=Names(DEFAULT_ALLOW_HEADERS), converter=_headers_or_default
    )
    expose_headers: Names = Names(())
    allow_credentials: bool = False
    #: ``Access-Control-Max-Age`` of preflight answers (Nuclio's code uses 5; -1 disables caching).
    preflight_max_age_seconds: int = 5
    #: accepted and ignored: the preflight method is always ``OPTIONS``, as in Nuclio.
    preflight_request_method: str = "OPTIONS"


@attrs.frozen
class HttpAttributes:
    """``spec.triggers.<name>.attributes`` of an ``http`` trigger.

    :param port: the TCP port to listen on (Nuclio's processor always listens on 8080
        and uses ``port`` for the published host port; here it is the listening port).
        ``0`` picks a free port.
    :param host: the address to listen on.
    :param max_request_body_size: the largest request body accepted, in bytes; a larger
        one is answered 413 before any worker sees it. ``0`` means the default (4 MiB).
    :param read_buffer_size: the largest request line and header line, in bytes; a larger
        one is answered 431. ``0`` means the default (16 KiB).
    :param cors: see :class:`CorsConfig`.
    """

    port: int = attrs.field(default=8080, validator=_check_port)
    host: str = "0.0.0.0"
    max_request_body_size: int = attrs.field(
        default=DEFAULT_MAX_REQUEST_BODY_SIZE,
        validator=_non_negative("maxRequestBodySize"),
        converter=_body_size_or_default,
    )
    read_buffer_size: int = attrs.field(
        default=DEFAULT_READ_BUFFER_SIZE,
        validator=_non_negative("readBufferSize"),
        converter=_buffer_size_or_default,
    )
    cors: CorsConfig = attrs.Factory(CorsConfig)
    # Platform concerns Nuclio reads outside the processor: accepted and ignored.
    reduce_memory_usage: bool = False
    mode: str | None = None
    service_type: str | None = None
    disable_port_publishing: bool = False
    ingresses: dict[str, Any] = attrs.Factory(dict)
