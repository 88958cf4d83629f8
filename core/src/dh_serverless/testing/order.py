"""Run the longest test files first, so parallel workers (pytest-xdist) finish together.

pytest-xdist's ``--dist loadscope`` hands each test file (each class, for tests in a class)
to one worker, in collection order with ``--no-loadscope-reorder``; by default it puts the
files with the most tests first, and the few long files that build wheels or start peers
then run last, one after the other, at the tail. :class:`LongestFirst` sorts the
collection by those scopes, longest first, keeping the order within each:

- a scope's length is the sum of its tests' durations in the last run that ran them
  (setup, call and teardown; kept in pytest's cache under :data:`CACHE_KEY`, so a
  ``-p no:cacheprovider`` run only guesses);
- a test never timed yet counts by its markers, as :data:`GUESS` says; in each scope, the
  ``slow`` test (a build, a peer venv) with the longest ``timeout`` marker counts a fifth of
  that timeout when that is more (the longest builds are given the longest timeouts, and a
  scope builds once what its other tests share).

A project turns it on from its root ``conftest.py``::

    def pytest_configure(config):
        config.pluginmanager.register(order.LongestFirst(config), "dh-longest-first")
"""

from __future__ import annotations

import math

import pytest

__all__ = ("CACHE_KEY", "GUESS", "LongestFirst")

#: Where the durations live in pytest's cache (``.pytest_cache/v/``).
CACHE_KEY = "dh_serverless/durations"
#: Seconds guessed for a test never timed, by marker (the first that matches; ``""``: any).
GUESS = {"slow": 20.0, "process": 1.5, "": 0.05}


def _scope(nodeid: str) -> str:
    """The file, or ``file::Class`` for a test in a class: ``--dist loadscope``'s unit."""
    return nodeid.rsplit("::", 1)[0]


def _guess(item: pytest.Item) -> tuple[float, float]:
    """Seconds guessed for ``item``, and more for the longest ``slow`` test of its scope."""
    marker = next(m for m in GUESS if not m or item.get_closest_marker(m) is not None)
    seconds = GUESS[marker]
    if marker == "slow":
        timeout = item.get_closest_marker("timeout")
        if timeout is not None and timeout.args and isinstance(timeout.args[0], (int, float)):
            return seconds, max(0.0, timeout.args[0] / 5 - seconds)
    return seconds, 0.0


class LongestFirst:
    """A pytest plugin: sorts the collection by scope, longest first, and times the run."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.timed: dict[str, float] = {}

    def _known(self) -> dict[str, float]:
        cache = getattr(self.config, "cache", None)
        known = cache.get(CACHE_KEY, {}) if cache is not None else {}
        return known if isinstance(known, dict) else {}

    # After every other hook of the collection: the lanes' markers are set by then.
    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        known = self._known()
        cost: dict[str, float] = {}
        build: dict[str, float] = {}  # the longest slow test's extra, once per scope
        first: dict[str, int] = {}
        for index, item in enumerate(items):
            scope = _scope(item.nodeid)
            seconds = known.get(item.nodeid)
            if not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
                seconds, extra = _guess(item)
                build[scope] = max(build.get(scope, 0.0), extra)
            cost[scope] = cost.get(scope, 0.0) + float(seconds)
            first.setdefault(scope, index)
        for scope, extra in build.items():
            cost[scope] += extra
        # Every xdist worker sorts alike (one cache file, read before any run ends).
        items.sort(key=lambda item: (-cost[_scope(item.nodeid)], first[_scope(item.nodeid)]))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if hasattr(self.config, "workerinput"):  # an xdist worker: its controller times
            return
        self.timed[report.nodeid] = self.timed.get(report.nodeid, 0.0) + report.duration

    def pytest_sessionfinish(self) -> None:
        """Keep this run's durations for the next run (tests not run keep theirs)."""
        cache = getattr(self.config, "cache", None)
        if not self.timed or cache is None:
            return
        known = self._known()
        known.update({nodeid: round(seconds, 3) for nodeid, seconds in self.timed.items()})
        cache.set(CACHE_KEY, known)
