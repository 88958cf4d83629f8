"""Log output: readable lines on a terminal, JSON lines otherwise.

Structured fields (``logger.info_with(..., a=1)``) travel in the record attribute
``with``. Nothing from ``spec.env`` is ever logged by the runtime.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from typing import Any

from dh_serverless.core.compat import UTC

__all__ = ("HumanFormatter", "JsonFormatter", "set_serving_process", "setup_logging")

#: this process's index when the function is served from several (``spec.processes``)
_process: int | None = None


def set_serving_process(index: int) -> None:
    """Tag every log line with the serving process's index (0: the parent): JSON lines
    get ``"process": index``, text lines ``[index]`` after the level."""
    global _process
    _process = index


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return getattr(record, "with", None) or {}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, with, and any error."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if _process is not None:
            entry["process"] = _process
        fields = _fields(record)
        if fields:
            entry["with"] = fields
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=repr, ensure_ascii=False)


class HumanFormatter(logging.Formatter):
    """``12:00:00.123 INFO  logger: message  key=value ...`` for people at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        time = datetime.datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        where = "" if _process is None else f"[{_process}] "
        line = f"{time} {record.levelname:<7} {where}{record.name}: {record.getMessage()}"
        fields = _fields(record)
        if fields:
            line += "  " + " ".join(f"{k}={v!r}" for k, v in fields.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup_logging(level: str = "info", *, json_lines: bool | None = None) -> None:
    """Send every log record to stderr, as JSON lines unless stderr is a terminal."""
    if json_lines is None:
        json_lines = not sys.stderr.isatty()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else HumanFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
