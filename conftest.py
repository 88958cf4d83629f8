"""What every test of the repository shares: its lane and the Hypothesis profiles.

- Lanes: a test that starts processes (servers, peers, browsers, builds) gets the ``process``
  marker automatically (:mod:`dh_serverless.testing.lanes`), and fails if it starts one
  without it; ``make test-fast`` runs the others.
- Hypothesis: the ``ci`` profile (``CI`` set, as ``.ci/run`` does) runs every test's own
  example count; ``dev``, the default, a fifth of it (at least 10) for the edit-test loop.
  ``HYPOTHESIS_PROFILE=ci make test`` runs the full counts locally.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path

import pytest
from hypothesis import settings

from dh_serverless.testing import lanes, order

LANES = lanes.Lanes(Path(__file__).parent)

settings.register_profile("ci", deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
settings.load_profile(PROFILE)
DEV_SHARE = 5  # dev runs 1/DEV_SHARE of each test's examples


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", lanes.MARKER_LINE)
    config.pluginmanager.register(order.LongestFirst(config), "dh-longest-first")


def pytest_report_header() -> str:
    return f"hypothesis profile: {PROFILE}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    lanes.mark_items(LANES, items)
    if PROFILE == "dev":
        for item in items:
            _fewer_examples(item)


def _fewer_examples(item: pytest.Item) -> None:
    """In ``dev``, a Hypothesis test runs a share of the examples its ``@settings`` asks."""
    test = getattr(item, "obj", None)
    own = getattr(test, "_hypothesis_internal_use_settings", None)
    if own is None or getattr(test, "_dh_dev_examples", False):
        return
    test._hypothesis_internal_use_settings = settings(  # type: ignore[union-attr]
        own, max_examples=max(10, own.max_examples // DEV_SHARE)
    )
    test._dh_dev_examples = True  # type: ignore[union-attr]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    return (yield from lanes.watch_item(item, "setup"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    return (yield from lanes.watch_item(item, "call"))
