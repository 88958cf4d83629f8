"""Refuse a kind that cannot be an entry-point name and a Python package."""

import re
import sys

KIND = "{{ cookiecutter.kind }}"

if not re.fullmatch(r"[a-z][a-z0-9_-]*", KIND):
    print(
        f"error: kind {KIND!r} must start with a lowercase letter and hold only lowercase "
        "letters, digits, '-' and '_' (it is the entry-point name and the package name)"
    )
    sys.exit(1)
