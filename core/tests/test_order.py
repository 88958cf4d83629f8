"""dh_serverless.testing.order: the longest scopes run first, timed by the last run."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from dh_serverless.testing.order import CACHE_KEY, LongestFirst


class Cache:
    """pytest's cache as the plugin uses it (``get``/``set`` of JSON values)."""

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        self.values = dict(values or {})

    def get(self, key: str, default: Any) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.values[key] = value


class Item:
    def __init__(self, nodeid: str, *markers: str) -> None:
        self.nodeid = nodeid
        self.markers = set(markers)

    def get_closest_marker(self, name: str) -> object | None:
        return name if name in self.markers else None


def plugin(cache: Cache | None, **config: Any) -> LongestFirst:
    return LongestFirst(SimpleNamespace(cache=cache, **config))  # type: ignore[arg-type]


def order(plugin: LongestFirst, items: list[Item]) -> list[str]:
    plugin.pytest_collection_modifyitems(items)  # type: ignore[arg-type]
    return [item.nodeid for item in items]


def test_scopes_run_longest_first_by_the_last_durations_keeping_their_own_order() -> None:
    cache = Cache({CACHE_KEY: {"a.py::t1": 1.0, "a.py::t2": 1.0, "b.py::t1": 5.0}})
    items = [Item("a.py::t1"), Item("a.py::t2"), Item("b.py::t1"), Item("b.py::t2")]
    assert order(plugin(cache), items) == ["b.py::t1", "b.py::t2", "a.py::t1", "a.py::t2"]


def test_a_class_is_a_scope_of_its_own() -> None:
    cache = Cache({CACHE_KEY: {"a.py::T1::t": 3.0, "a.py::T2::t": 9.0, "a.py::f": 1.0}})
    items = [Item("a.py::f"), Item("a.py::T1::t"), Item("a.py::T2::t")]
    assert order(plugin(cache), items) == ["a.py::T2::t", "a.py::T1::t", "a.py::f"]


@pytest.mark.parametrize("cache", [Cache(), None, Cache({CACHE_KEY: "not a mapping"})])
def test_untimed_tests_are_guessed_from_their_lane(cache: Cache | None) -> None:
    items = [
        Item("fast.py::t1"),
        Item("fast.py::t2"),
        Item("proc.py::t", "process"),
        Item("build.py::t", "slow", "process"),
    ]
    assert order(plugin(cache), items) == [
        "build.py::t",
        "proc.py::t",
        "fast.py::t1",
        "fast.py::t2",
    ]


def test_the_controller_keeps_every_phase_and_the_tests_it_did_not_run() -> None:
    cache = Cache({CACHE_KEY: {"old.py::t": 2.0, "a.py::t": 9.0}})
    longest = plugin(cache)
    for phase in (0.5, 1.0, 0.25):
        report = SimpleNamespace(nodeid="a.py::t", duration=phase)
        longest.pytest_runtest_logreport(report)  # type: ignore[arg-type]
    longest.pytest_sessionfinish()
    assert cache.values[CACHE_KEY] == {"old.py::t": 2.0, "a.py::t": 1.75}


def test_workers_leave_the_timing_to_their_controller() -> None:
    cache = Cache()
    worker = plugin(cache, workerinput={"workerid": "gw0"})
    worker.pytest_runtest_logreport(SimpleNamespace(nodeid="a.py::t", duration=1.0))  # type: ignore[arg-type]
    worker.pytest_sessionfinish()
    assert cache.values == {}


def test_without_a_cache_nothing_is_kept() -> None:
    longest = plugin(None)
    longest.pytest_runtest_logreport(SimpleNamespace(nodeid="a.py::t", duration=1.0))  # type: ignore[arg-type]
    longest.pytest_sessionfinish()  # no cacheprovider (-p no:cacheprovider): no error


class Marker:
    def __init__(self, *args: object) -> None:
        self.args = args


class TimedItem(Item):
    def __init__(self, nodeid: str, timeout: float, *markers: str) -> None:
        super().__init__(nodeid, *markers)
        self.timeout = timeout

    def get_closest_marker(self, name: str) -> object | None:
        if name == "timeout":
            return Marker(self.timeout)
        return super().get_closest_marker(name)


def test_the_longest_slow_test_of_a_scope_counts_a_fifth_of_its_timeout() -> None:
    items = [
        TimedItem("short.py::t", 60, "slow"),  # 20 s (the slow guess)
        TimedItem("two.py::t1", 600, "slow"),  # 120 s
        TimedItem("two.py::t2", 600, "slow"),  # 20 s: its scope's build counted once
        TimedItem("build.py::t", 1500, "slow"),  # 300 s
        TimedItem("many.py::t1", 300, "slow"),  # 60 s
        TimedItem("many.py::t2", 300, "slow"),  # 20 s
        TimedItem("many.py::t3", 300, "slow"),  # 20 s
        TimedItem("quick.py::t", 1500),  # not slow: 0.05 s whatever its timeout
    ]
    assert order(plugin(Cache()), items) == [
        "build.py::t", "two.py::t1", "two.py::t2", "many.py::t1", "many.py::t2", "many.py::t3",
        "short.py::t", "quick.py::t",
    ]  # fmt: skip
