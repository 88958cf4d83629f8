"""Fixtures of this distribution's tests; helpers live in ``ws_support``."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from ws_support import start_function

__all__ = ("start_function",)
