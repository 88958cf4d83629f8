"""Nuclio's inline configuration: the ``# @nuclio.configure`` block of a handler file.

``nuctl deploy --path handler.py`` reads a comment block like this one and takes its
``function.yaml`` key as the function's configuration::

    # @nuclio.configure
    #
    # function.yaml:
    #   spec:
    #     triggers:
    #       http: {kind: http, maxWorkers: 2}

The rules are Nuclio's (``pkg/processor/build/inlineparser``): a block starts at a line
that, without its spaces, begins with ``#@nuclio.<name>``; it goes on while lines begin
with ``#`` (in column 0); each of those loses the ``#`` and the one character after it.
Written by hand because it is twenty lines and no library reads this format; unlike
Nuclio, a block that is not valid YAML is an error naming its line, not silently ignored.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from dh_serverless.core.errors import ConfigError

__all__ = ("InlineBlock", "inline_blocks", "inline_function_config")

_START = "#@nuclio."


class InlineBlock:
    """One ``@nuclio.<name>`` block: its text and the file line number of each text line."""

    __slots__ = ("lines", "name", "start", "text")

    def __init__(self, name: str, start: int) -> None:
        self.name = name
        self.start = start
        self.text: list[str] = []
        self.lines: list[int] = []

    def add(self, line: str, number: int) -> None:
        """Append one comment line (``# text``) as ``text``."""
        content = line[1:]
        self.text.append(content[1:] if content else "")
        self.lines.append(number)

    def line_of(self, index: int) -> int:
        """The file line number (1-based) of the block's ``index``-th text line."""
        if not self.lines:
            return self.start
        return self.lines[min(max(index, 0), len(self.lines) - 1)]


def inline_blocks(text: str) -> dict[str, InlineBlock]:
    """Every ``@nuclio.<name>`` block of a source file, by name (a later block wins)."""
    blocks: dict[str, InlineBlock] = {}
    current: InlineBlock | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if current is not None:
            if line.startswith("#"):
                current.add(line, number)
                continue
            blocks[current.name] = current
            current = None
        spaceless = line.replace(" ", "")
        if spaceless.startswith(_START):
            current = InlineBlock(spaceless[len(_START) :].strip(), number)
    if current is not None:
        blocks[current.name] = current
    return blocks


def inline_function_config(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The ``function.yaml`` mapping of the file's ``@nuclio.configure`` block.

    None when the file has no such block or the block has no ``function.yaml`` key.
    Raises :class:`ConfigError` naming the line when the block is not valid YAML or its
    ``function.yaml`` is not a mapping.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(source, [f"cannot read the file: {detail}"]) from exc
    block = inline_blocks(text).get("configure")
    if block is None:
        return None
    try:
        contents = yaml.safe_load("\n".join(block.text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = block.line_of(mark.line) if mark is not None else block.start
        problem = getattr(exc, "problem", None) or str(exc)
        lines = text.splitlines()
        context = getattr(exc, "context_mark", None)
        if context is not None and mark is not None and context.line != mark.line:
            # e.g. an unclosed `[`: the parser notices a line later; name where it opened
            start = block.line_of(context.line)
            opened = getattr(exc, "context", None) or "opened"
            problem = f"{problem} ({opened} at line {start}: {lines[start - 1].strip()!r})"
        raise ConfigError(
            source,
            [
                f"line {line} ({lines[line - 1].strip()!r}): the '# @nuclio.configure' block "
                f"starting at line {block.start} is not valid YAML: {problem}"
            ],
        ) from exc
    if contents is None:
        return None
    if not isinstance(contents, dict):
        raise ConfigError(
            source,
            [
                f"line {block.start}: the '# @nuclio.configure' block must be a mapping "
                "with a 'function.yaml:' key"
            ],
        )
    config = contents.get("function.yaml")
    if config is None:
        return None
    if not isinstance(config, dict):
        key_index = next(
            (i for i, t in enumerate(block.text) if t.lstrip().startswith("function.yaml")), 0
        )
        raise ConfigError(
            source,
            [
                f"line {block.line_of(key_index)}: 'function.yaml:' in the "
                "'# @nuclio.configure' block must be a NuclioFunction mapping"
            ],
        )
    return config
