"""pytest fixtures for testing Nuclio handlers (loaded automatically with dh-serverless-core)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dh_serverless.testing import Platform


@pytest.fixture
def dh_platform() -> Iterator[Platform]:
    """A :class:`dh_serverless.testing.Platform`, closed after the test."""
    platform = Platform()
    try:
        yield platform
    finally:
        platform.close()
