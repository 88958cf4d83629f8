"""Go durations (``"30s"``, ``"1m30s"``, ``"500ms"``) as Nuclio's ``eventTimeout`` uses them.

Written by hand: no maintained Python library parses Go's exact grammar, and it is a
dozen lines.
"""

from __future__ import annotations

import re

__all__ = ("parse_go_duration",)

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_go_duration(text: str) -> float:
    """Return ``text`` in seconds; raise ``ValueError`` naming the accepted form."""
    body = text.strip()
    sign = -1.0 if body.startswith("-") else 1.0
    if body[:1] in ("+", "-"):  # one sign at most, as Go: "--1s" is invalid
        body = body[1:]
    if body == "0":
        return 0.0
    pos, total = 0, 0.0
    for match in _PART.finditer(body):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not body or pos != len(body):
        raise ValueError(
            f"invalid duration {text!r}: use a Go duration such as '30s', '500ms' or '1m30s' "
            "(units ns, us, ms, s, m, h)"
        )
    return sign * total
