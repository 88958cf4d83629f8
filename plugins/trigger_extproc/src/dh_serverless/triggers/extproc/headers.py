"""Envoy header maps in and header mutations out.

Envoy sends values in ``raw_value`` with ``value`` empty, and a header set through
``value`` reaches the upstream empty (reference gotcha G2), so values are read from
``raw_value`` (falling back to ``value``) and always written to ``raw_value``. Envoy's
ext_proc ignores ``append_action`` (G3): appending uses the deprecated ``append`` flag.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from envoy.config.core.v3 import base_pb2  # type: ignore[import-untyped]
from envoy.service.ext_proc.v3 import external_processor_pb2 as ep  # type: ignore[import-untyped]

__all__ = (
    "Mutation",
    "as_bytes",
    "build_header_mutation",
    "read_headers",
)

#: (set: (name, value, append) triples, remove: names); names are lower case.
Mutation = tuple[list[tuple[str, bytes, bool]], list[str]]


def read_headers(header_map: base_pb2.HeaderMap) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """Split Envoy's headers into ``(headers, pseudo)``: names lower case, values bytes.

    A repeated name keeps the values joined by ``,`` (as an HTTP proxy would fold them);
    ``pseudo`` holds ``:path``, ``:method``, ``:status``, ... .
    """
    headers: dict[str, bytes] = {}
    pseudo: dict[str, bytes] = {}
    for h in header_map.headers:
        key = h.key
        value = h.raw_value or h.value.encode("utf-8", "surrogateescape")
        if key[:1] == ":":
            pseudo[key] = value
            continue
        key = key.lower()
        old = headers.get(key)
        headers[key] = value if old is None else old + b"," + value
    return headers, pseudo


def as_bytes(value: Any) -> bytes:
    """A header value as bytes: ``str`` as latin-1 when it fits, else UTF-8."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    text = value if isinstance(value, str) else str(value)
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def mutation_from_headers(headers: Mapping[str, Any], skip: Iterable[str] = ()) -> Mutation:
    """What a handler's ``headers`` ask for: a value sets (overwrites), a list appends each
    item to what is there, ``None`` removes the header. Names in ``skip`` are left out."""
    skipped = {s.lower() for s in skip}
    sets: list[tuple[str, bytes, bool]] = []
    removes: list[str] = []
    for name, value in headers.items():
        key = str(name).lower()
        if key in skipped or not key:
            continue
        if value is None:
            removes.append(key)
        elif isinstance(value, (list, tuple)):
            sets.extend((key, as_bytes(item), True) for item in value)
        else:
            sets.append((key, as_bytes(value), False))
    return sets, removes


def build_header_mutation(
    sets: Iterable[tuple[str, bytes, bool]], removes: Iterable[str]
) -> ep.HeaderMutation:
    """An Envoy ``HeaderMutation``: overwrite-or-add, or append with the ``append`` flag."""
    mutation = ep.HeaderMutation()
    for key, value, append in sets:
        option = mutation.set_headers.add()
        option.header.key = key
        option.header.raw_value = value
        if append:
            option.append.value = True
    mutation.remove_headers.extend(removes)
    return mutation
