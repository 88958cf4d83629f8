"""CORS as Nuclio's http trigger answers it, except that requests without an allowed
``Origin`` still reach the handler (they only lack the ``Access-Control-*`` headers).

Written by hand: aiohttp-cors works per route of a ``web.Application`` (this trigger runs
aiohttp's low-level server) and answers differently from Nuclio (preflight status, the
default lists, ``Vary``); the rules here are a few precomputed headers.
"""

from __future__ import annotations

from aiohttp import web
from multidict import CIMultiDict

from dh_serverless.triggers.http.config import CorsConfig

__all__ = ("Cors",)

_PREFLIGHT_VARY = ("Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers")


class Cors:
    """The precomputed answers of one trigger's ``attributes.cors``."""

    __slots__ = (
        "_allow_headers",
        "_allow_methods",
        "_any_origin",
        "_credentials",
        "_expose",
        "_header_set",
        "_max_age",
        "_method_set",
        "_origin_set",
    )

    def __init__(self, config: CorsConfig) -> None:
        self._any_origin = "*" in config.allow_origins
        self._origin_set = frozenset(o.lower() for o in config.allow_origins)
        # The preflight method itself is always allowed, as in Nuclio.
        self._method_set = frozenset(m.upper() for m in config.allow_methods) | {"OPTIONS"}
        self._header_set = frozenset(h.lower() for h in config.allow_headers)
        self._allow_methods = ", ".join(config.allow_methods)
        self._allow_headers = ", ".join(config.allow_headers)
        self._max_age = str(config.preflight_max_age_seconds)
        self._credentials = config.allow_credentials
        self._expose = ", ".join(config.expose_headers)

    def origin_allowed(self, origin: str | None) -> bool:
        """True for a non-empty ``origin`` in ``allowOrigins`` (or any, with ``*``)."""
        return bool(origin) and (self._any_origin or origin.lower() in self._origin_set)  # type: ignore[union-attr]

    def preflight(self, headers: dict[str, str]) -> web.Response:
        """Answer an ``OPTIONS`` request carrying ``Access-Control-Request-Method``:
        200 with the allow headers when origin, method and headers are allowed, else 400."""
        answer: CIMultiDict[str] = CIMultiDict()
        for value in _PREFLIGHT_VARY:
            answer.add("Vary", value)
        origin = headers.get("Origin")
        method = headers.get("Access-Control-Request-Method", "")
        requested = [
            h.strip() for h in headers.get("Access-Control-Request-Headers", "").split(",")
        ]
        if not self.origin_allowed(origin):
            reason = f"origin {origin!r} is not allowed" if origin else "no Origin header"
        elif method.upper() not in self._method_set:
            reason = f"method {method!r} is not allowed"
        else:
            refused = [h for h in requested if h and h.lower() not in self._header_set]
            reason = f"headers {', '.join(refused)} are not allowed" if refused else ""
        if reason:
            return web.Response(
                status=400, text=f"CORS preflight refused: {reason}\n", headers=answer
            )
        answer["Access-Control-Allow-Origin"] = origin  # type: ignore[assignment]
        if self._credentials:
            answer["Access-Control-Allow-Credentials"] = "true"
        answer["Access-Control-Max-Age"] = self._max_age
        answer["Access-Control-Allow-Methods"] = self._allow_methods
        answer["Access-Control-Allow-Headers"] = self._allow_headers
        return web.Response(status=200, headers=answer)

    def decorate(self, answer: CIMultiDict[str], origin: str | None) -> None:
        """Add ``Vary: Origin`` and, for an allowed origin, the ``Access-Control-*``
        headers to a normal answer; headers the handler set itself are kept."""
        answer.add("Vary", "Origin")
        if not self.origin_allowed(origin):
            return
        answer.setdefault("Access-Control-Allow-Origin", origin)  # type: ignore[arg-type]
        if self._credentials:
            answer.setdefault("Access-Control-Allow-Credentials", "true")
        if self._expose:
            answer.setdefault("Access-Control-Expose-Headers", self._expose)
