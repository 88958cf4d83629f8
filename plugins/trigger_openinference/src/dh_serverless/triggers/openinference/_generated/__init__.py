"""Generated protobuf messages (see the README to regenerate); excluded from ruff and mypy."""
