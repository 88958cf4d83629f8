"""Attribute checks for plugin configuration, with one wording for every plugin.

Each function returns an attrs validator. A failed check raises ``ValueError`` with a
message that starts with the key as the user writes it and ends with the value given;
the core prefixes the key path (``spec.triggers.web.attributes: port must be ...``)::

    @attrs.frozen
    class Attributes:
        port: int = attrs.field(default=8080, validator=validators.port())
        fps: float = attrs.field(default=30.0, validator=validators.positive("fps"))
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs

__all__ = (
    "Validator",
    "at_least",
    "between",
    "header_names",
    "one_of",
    "path",
    "port",
    "positive",
    "url",
)

Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")


def _key(key: str | None, attribute: attrs.Attribute[Any]) -> str:
    return key or attribute.name


def port(key: str | None = None) -> Validator:
    """A TCP or UDP port: 1 to 65535, or 0 for any free port."""

    def check(_: Any, attribute: attrs.Attribute[Any], value: int) -> None:
        if not 0 <= value <= 65535:
            name = _key(key, attribute)
            raise ValueError(f"{name} must be between 1 and 65535 (0: any free port), got {value}")

    return check


def at_least(low: float, key: str | None = None) -> Validator:
    """A number no smaller than ``low``."""

    def check(_: Any, attribute: attrs.Attribute[Any], value: float) -> None:
        if value < low:
            raise ValueError(f"{_key(key, attribute)} must be at least {low:g}, got {value:g}")

    return check


def between(low: float, high: float, key: str | None = None) -> Validator:
    """A number from ``low`` to ``high``, both included."""

    def check(_: Any, attribute: attrs.Attribute[Any], value: float) -> None:
        if not low <= value <= high:
            name = _key(key, attribute)
            raise ValueError(f"{name} must be between {low:g} and {high:g}, got {value:g}")

    return check


def positive(key: str | None = None) -> Validator:
    """A number greater than 0."""

    def check(_: Any, attribute: attrs.Attribute[Any], value: float) -> None:
        if not value > 0:
            raise ValueError(f"{_key(key, attribute)} must be greater than 0, got {value!r}")

    return check


def one_of(
    choices: Collection[str], key: str | None = None, *, optional: bool = False
) -> Validator:
    """One of ``choices``, compared ignoring case (``None`` too, when ``optional``)."""
    allowed = {choice.lower() for choice in choices}
    listed = ", ".join(choices)

    def check(_: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
        if value is None and optional:
            return
        if str(value).lower() not in allowed:
            raise ValueError(f"{_key(key, attribute)} must be one of {listed}, got {value!r}")

    return check


def url(schemes: Collection[str], key: str | None = None, *, optional: bool = False) -> Validator:
    """A URL with one of ``schemes`` (the first shown as the example) and a host
    (``None`` too, when ``optional``)."""
    first = next(iter(schemes))

    def check(_: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
        if value is None and optional:
            return
        try:
            parts = urlsplit(str(value).strip())
            host = parts.hostname
            parts.port  # noqa: B018 - raises ValueError for a port out of range
        except ValueError:
            host = None
        if parts.scheme.lower() not in schemes or not host:
            raise ValueError(
                f"{_key(key, attribute)} must be a URL such as {first}://host:port/path "
                f"({', '.join(schemes)}), got {value!r}"
            )

    return check


def path(key: str | None = None, *, reserved: Collection[str] = ()) -> Validator:
    """An absolute URL path such as ``/stream``: no spaces, ``?`` or ``#``, none of
    ``reserved`` (paths the plugin serves itself)."""

    def check(_: Any, attribute: attrs.Attribute[Any], value: str) -> None:
        bad = not value.startswith("/") or any(c.isspace() or c in "?#" for c in value)
        if bad or value in reserved:
            taken = f", and none of {', '.join(sorted(reserved))}" if reserved else ""
            raise ValueError(
                f"{_key(key, attribute)} must be an absolute path such as /stream, without "
                f"spaces, ? or #{taken}; got {value!r}"
            )

    return check


def header_names(key: str | None = None) -> Validator:
    """A mapping whose keys are HTTP header names (RFC 9110 tokens) and whose values
    hold no line breaks."""

    def check(_: Any, attribute: attrs.Attribute[Any], value: Mapping[str, Any]) -> None:
        for name, text in value.items():
            if not _TOKEN.match(str(name)):
                raise ValueError(f"{_key(key, attribute)}: not a header name: {name!r}")
            if any(c in str(text) for c in "\r\n\0"):
                raise ValueError(
                    f"{_key(key, attribute)}: the value of {name!r} holds a line break"
                )

    return check
