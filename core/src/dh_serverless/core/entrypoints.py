"""One entry-point group, read straight from the installed distributions' ``entry_points.txt``.

``importlib.metadata.entry_points()`` (and stevedore, which builds its cache from it) imports
the ``email`` package to parse every distribution's metadata and reads every group of every
distribution: about 15-25 ms of a job's start in a venv with a hundred packages. Starting a
function needs only the few entry points of one group, so this module reads the same files
``importlib.metadata`` reads (``<dist>.dist-info/entry_points.txt`` and ``.egg-info``, in
``sys.path`` order, the first distribution of a name winning) with a small parser, and leaves
anything unusual (zip files, errors, a kind not found) to the plugin host's stevedore path.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable

__all__ = ("FoundEntryPoint", "find_group")

_SUFFIXES = (".dist-info", ".egg-info")


class FoundEntryPoint:
    """One entry point: ``name = module:attr`` in ``group``, declared by ``distribution``."""

    __slots__ = ("distribution", "group", "module", "name", "value")

    def __init__(self, name: str, value: str, group: str, distribution: str) -> None:
        self.name = name
        self.value = value
        self.group = group
        self.module = value.partition(":")[0].strip()
        #: the ``.dist-info`` folder's name part (normalised, as the installer wrote it)
        self.distribution = distribution

    def load(self) -> object:
        """Import the module and return the attribute the entry point names."""
        import importlib

        module, _, attrs = self.value.partition(":")
        obj: object = importlib.import_module(module.strip())
        for part in attrs.strip().split(".") if attrs.strip() else ():
            obj = getattr(obj, part)
        return obj

    def __repr__(self) -> str:
        return f"FoundEntryPoint({self.name!r}, {self.value!r}, {self.group!r})"


def _normalise(name: str) -> str:
    return name.replace("-", "_").replace(".", "_").lower()


def _parse(text: str, group: str) -> list[tuple[str, str]]:
    """The ``name = value`` lines of section ``[group]`` of an ``entry_points.txt``."""
    found = []
    inside = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line[0] == "[":
            inside = line[1:].partition("]")[0].strip() == group
            continue
        if inside:
            name, sep, value = line.partition("=")
            if sep:
                found.append((name.strip(), value.strip()))
    return found


#: ``sys.path`` as last scanned, and each distribution's ``entry_points.txt`` text on it.
_scanned: tuple[tuple[str, ...], list[tuple[str, str]]] | None = None


def _entry_point_files(path: tuple[str, ...]) -> list[tuple[str, str]]:
    """(distribution, ``entry_points.txt`` text) of every distribution on ``path`` that has
    one; read once per ``sys.path`` (a function looks up two or three groups at start)."""
    global _scanned
    if _scanned is not None and _scanned[0] == path:
        return _scanned[1]
    seen: set[str] = set()
    files: list[tuple[str, str]] = []
    for entry in path:
        try:
            names = os.listdir(entry or ".")
        except OSError:  # a zip file, a missing folder
            continue
        base = f"{entry}/" if entry else ""
        for folder in names:
            if not folder.endswith(_SUFFIXES):
                continue
            dist = _normalise(folder.rpartition(".")[0].partition("-")[0])
            if dist in seen:
                continue
            seen.add(dist)
            try:
                with open(f"{base}{folder}/entry_points.txt", encoding="utf-8") as f:
                    files.append((dist, f.read()))
            except OSError:
                continue
    _scanned = (path, files)
    return files


def find_group(group: str, path: Iterable[str] | None = None) -> list[FoundEntryPoint]:
    """Every entry point of ``group`` installed on ``path`` (default ``sys.path``).

    Distributions are deduplicated by normalised name, the first on the path winning, as
    ``importlib.metadata.entry_points()`` does. Folders that cannot be listed are skipped.
    """
    found: list[FoundEntryPoint] = []
    for dist, text in _entry_point_files(tuple(sys.path if path is None else path)):
        if group in text:
            found += [FoundEntryPoint(n, v, group, dist) for n, v in _parse(text, group)]
    return found
