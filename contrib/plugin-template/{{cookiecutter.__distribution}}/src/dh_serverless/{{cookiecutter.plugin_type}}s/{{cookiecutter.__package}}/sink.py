"""The ``{{ cookiecutter.kind }}`` sink: every result appended to a file, one per line.

A sink is a class with ``kind`` and ``attributes_type`` and three coroutines (the
:class:`~dh_serverless.hookspecs.Sink` protocol, checked structurally): ``start()``,
``emit(response, event)`` for each successful result, in a task of its own fed by a
bounded queue (a slow ``emit`` never slows the trigger; the core drops and counts the
oldest results), and ``stop()`` after the trigger stopped and the queue was flushed.
"""

from __future__ import annotations

import asyncio
from typing import IO, ClassVar

import attrs

from dh_serverless.core.api import UserError, body_bytes
from dh_serverless.hookspecs import Event, Response, SinkSpec

__all__ = ("{{ cookiecutter.__class_name }}", "{{ cookiecutter.__class_name }}Attributes")


@attrs.frozen
class {{ cookiecutter.__class_name }}Attributes:
    """``spec.triggers.<name>.attributes.sink.attributes``::

        sink:
          kind: {{ cookiecutter.kind }}
          attributes:
            path: results.txt     # appended to; created if missing
            separator: "\\n"       # written after each result

    The core structures them into this class, as a trigger's: keys match ignoring case and
    underscores, and a mistake stops the start with exit code 2, naming the key.
    """

    path: str = attrs.field(validator=attrs.validators.min_len(1))
    separator: str = "\n"


class {{ cookiecutter.__class_name }}:
    """Appends each result's body and the separator to ``path`` (off the event loop)."""

    kind: ClassVar[str] = "{{ cookiecutter.kind }}"
    attributes_type: ClassVar[type] = {{ cookiecutter.__class_name }}Attributes

    def __init__(self, spec: SinkSpec) -> None:
        self._path = spec.attributes.path
        self._separator = spec.attributes.separator.encode()
        self._log = spec.logger
        self._file: IO[bytes] | None = None
        written = spec.metrics.counter("dh_{{ cookiecutter.__package }}_written_bytes", "Bytes written", ("trigger",))
        self._written = written.labels(spec.trigger)

    async def start(self) -> None:
        """Open the file for appending; a path that cannot be opened stops the start with
        a clear message and exit code 1 (``UserError``)."""
        try:
            self._file = await asyncio.to_thread(open, self._path, "ab")
        except OSError as exc:
            raise UserError(f"{self.kind} sink cannot open {self._path}: {exc.strerror}") from exc
        self._log.info("%s sink appending to %s", self.kind, self._path)

    async def emit(self, response: Response, event: Event) -> None:
        """Append one result (a body that is not bytes-like is counted as failed)."""
        data = body_bytes(response.body) + self._separator
        assert self._file is not None
        await asyncio.to_thread(self._write, data)
        self._written.inc(len(data))

    def _write(self, data: bytes) -> None:
        assert self._file is not None
        self._file.write(data)
        self._file.flush()

    async def stop(self) -> None:
        """Close the file."""
        if self._file is not None:
            await asyncio.to_thread(self._file.close)
            self._file = None
