"""TEMPORARY: a stand-in for ``spec.metrics`` until the core's plugin metrics land."""

from __future__ import annotations

from typing import Any


class _Cell:
    value = 0.0

    def inc(self, amount: float = 1) -> None:
        self.value += amount

    def dec(self, amount: float = 1) -> None:
        self.value -= amount

    def set(self, value: float) -> None:
        self.value = value

    def set_function(self, fn: Any) -> None:
        self.fn = fn

    def observe(self, value: float) -> None:
        pass


class _Family:
    def __init__(self) -> None:
        self.cells: dict[tuple[str, ...], _Cell] = {}

    def labels(self, *values: str) -> _Cell:
        return self.cells.setdefault(values, _Cell())


class NullRegistry:
    def __init__(self) -> None:
        self.families: dict[str, _Family] = {}

    def _family(self, name: str, *_: Any, **__: Any) -> _Family:
        return self.families.setdefault(name, _Family())

    counter = gauge = histogram = _family


def registry_of(spec: Any) -> Any:
    return getattr(spec, "metrics", None) or NullRegistry()
