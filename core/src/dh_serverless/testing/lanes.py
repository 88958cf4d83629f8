"""Sort tests into lanes: ``process`` (starts processes) or in-process, with no marks by hand.

A test is in the ``process`` lane when its own code, the code of the fixtures it uses, or
the code they call (followed through names, up to a few levels, within the project's own
files) mentions a way to start a process (``subprocess``, ``Popen``,
``create_subprocess_exec``, ``multiprocessing``, ``os.fork``...). Servers run by
``dh-serverless run``, peers (Envoy, ffmpeg, Chromium, other venvs) and wheel builds are all
processes, and so are the runtime's process workers: a test whose code, or a string constant
it names, says ``workerKind: process`` is in the ``process`` lane too. What is left is the
in-process lane ``make test-fast`` runs.

The sorting checks itself while the tests run: a test outside the ``process`` lane that
starts a process fails and says so; the usual cause is a helper reached in a way the scan
cannot follow (``getattr``, a callback); mark that test or helper's users with
``@pytest.mark.process``.

A project turns it on from its root ``conftest.py``: :data:`MARKER_LINE` in
``pytest_configure``, :func:`mark_items` in ``pytest_collection_modifyitems``, and
:func:`watch_item` in ``pytest_runtest_setup`` and ``pytest_runtest_call`` wrappers.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import multiprocessing.util
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

__all__ = ("MARKER_LINE", "PROCESS", "Lanes", "mark_items", "watch_item")

#: The marker of tests that start processes.
PROCESS = "process"

_SPAWNS = re.compile(
    r"\b(?:subprocess|Popen|create_subprocess_exec|create_subprocess_shell|multiprocessing"
    r"|ProcessPoolExecutor|fork|forkpty|posix_spawnp?|spawnv\w*|execv\w*|execl\w*|system)\b"
)
# The runtime's process workers (``workerKind: process``), in code or a string it names.
_PROCESS_WORKERS = re.compile(r"worker_?kind\W{0,6}process\b", re.IGNORECASE)
_NAME = re.compile(r"\b([A-Za-z_]\w*)(?:\.([A-Za-z_]\w*))?")
_FROM_IMPORT = re.compile(r"\bfrom ([\w.]+) import \(?([\w ,]+)")
_DEPTH = 6


# A string literal (any prefix, triple-quoted or not) or a comment; a "#" in a string is
# part of the string, since the scan goes left to right.
_STRING_OR_COMMENT = re.compile(
    r"(?P<string>(?:\b[rRbBuUfF]{1,2})?(?:'''(?:\\.|[^\\])*?'''|\"\"\"(?:\\.|[^\\])*?\"\"\""
    r"|'(?:\\.|[^\\'\n])*'|\"(?:\\.|[^\\\"\n])*\"))|(?P<comment>#[^\n]*)",
    re.DOTALL,
)
_NOT_NEWLINE = re.compile(r"[^\n]")


def _emptied(match: re.Match[str]) -> str:
    blank = _NOT_NEWLINE.sub(" ", match.group())
    return '""' + blank[2:] if match.group("string") else blank


def _code_only(source: str) -> str:
    """``source`` with its comments and string literals (docstrings too) emptied; string
    literals become ``""``, and every line stays where it was."""
    return _STRING_OR_COMMENT.sub(_emptied, source)


class _SourceFile:
    """One file of the project read once: its text, that text as code only, and where each
    function and class in it starts and ends (by first line, decorators included, and by
    qualified name)."""

    def __init__(self, text: str) -> None:
        tree = ast.parse(text)
        self.lines = text.splitlines(keepends=True)
        self.code_lines = _code_only(text).splitlines(keepends=True)
        self.by_line: dict[int, tuple[int, int]] = {}
        self.by_name: dict[str, tuple[int, int]] = {}
        self._index(tree.body, "")

    def _index(self, body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                span = (first, node.end_lineno or node.lineno)
                self.by_line.setdefault(first, span)
                self.by_name.setdefault(prefix + node.name, span)
                inner = "." if isinstance(node, ast.ClassDef) else ".<locals>."
                self._index(node.body, prefix + node.name + inner)
            elif isinstance(node, (ast.If, ast.Try, ast.With, ast.AsyncWith)):
                for block in ("body", "orelse", "finalbody"):
                    self._index(getattr(node, block, []), prefix)

    def source_of(self, obj: object) -> tuple[str, str] | None:
        """``obj``'s source and its code only, or None when this file does not say."""
        code = getattr(obj, "__code__", None)
        span = self.by_line.get(code.co_firstlineno) if code is not None else None
        if span is None:
            span = self.by_name.get(getattr(obj, "__qualname__", ""))
        if span is None:
            return None
        first, last = span
        return "".join(self.lines[first - 1 : last]), "".join(self.code_lines[first - 1 : last])


def _process_workers() -> None:
    """Stands for a configuration with ``workerKind: process``: the runtime spawns them."""
    multiprocessing.get_context("spawn")


class Lanes:
    """Decides, and remembers, which functions and classes start processes.

    :param root: only code in files under this folder is read (the project, not its
        dependencies); ``.venv`` and ``.tox`` below it are left out.
    """

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._answers: dict[int, bool] = {}
        self._nodes: dict[int, tuple[bool, list[object]]] = {}
        self._ours_cache: dict[int, bool] = {}
        self._files: dict[str, _SourceFile | None] = {}
        self._keep: list[object] = []  # ids stay unique while the objects live

    def _ours(self, obj: Any) -> bool:
        key = id(obj)
        if key not in self._ours_cache:
            self._keep.append(obj)
            self._ours_cache[key] = self._in_root(obj)
        return self._ours_cache[key]

    def _in_root(self, obj: Any) -> bool:
        try:
            file = inspect.getsourcefile(obj)
        except TypeError:
            return False
        if not file:
            return False
        path = Path(file).resolve()
        if not path.is_relative_to(self.root):
            return False
        return not {".venv", ".tox", "site-packages"} & set(path.relative_to(self.root).parts)

    def _node(self, obj: object) -> tuple[bool, list[object]]:
        """Whether ``obj``'s own code starts a process, and the project code it names."""
        key = id(obj)
        if key not in self._nodes:
            self._keep.append(obj)
            source, code = self._source(obj)
            direct = bool(_SPAWNS.search(code) or _PROCESS_WORKERS.search(source))
            self._nodes[key] = (direct, [] if direct else list(self._named(obj, code)))
        return self._nodes[key]

    def _source(self, obj: object) -> tuple[str, str]:
        """``obj``'s source and its code only; each file is read and parsed once."""
        try:
            file = inspect.getsourcefile(obj)  # type: ignore[arg-type]
        except TypeError:
            file = None
        if file is not None and file not in self._files:
            try:
                self._files[file] = _SourceFile(Path(file).read_text())
            except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
                self._files[file] = None
        known = self._files.get(file) if file is not None else None
        found = known.source_of(obj) if known is not None else None
        if found is not None:
            return found
        try:
            source = textwrap.dedent(inspect.getsource(obj))  # type: ignore[arg-type]
        except (OSError, TypeError):
            return "", ""
        return source, _code_only(source)

    def starts_processes(self, obj: Any) -> bool:
        """Whether ``obj`` (a function or class) or what it names, up to a few names away,
        may start a process."""
        obj = inspect.unwrap(obj) if inspect.isfunction(obj) else obj
        key = id(obj)
        if key not in self._answers:
            self._keep.append(obj)
            self._answers[key] = self._search(obj)
        return self._answers[key]

    def _search(self, start: object) -> bool:
        seen = {id(start)}
        level = [start]
        for _ in range(_DEPTH + 1):
            following: list[object] = []
            for obj in level:
                known = self._answers.get(id(obj))
                if known:
                    return True
                direct, refs = self._node(obj)
                if direct:
                    return True
                for ref in refs:
                    if id(ref) not in seen:
                        seen.add(id(ref))
                        following.append(ref)
            if not following:
                return False
            level = following
        return False

    def _named(self, obj: object, code: str) -> Iterator[object]:
        """The project's functions and classes that ``code`` (the source of ``obj``) names."""
        if inspect.isclass(obj):
            module = sys.modules.get(obj.__module__)
            namespace: dict[str, Any] = vars(module) if module else {}
        else:
            namespace = getattr(obj, "__globals__", {})
        local_imports = _FROM_IMPORT.findall(code)
        if local_imports:
            namespace = dict(namespace)
        for module_name, names in local_imports:  # imports inside functions
            module = sys.modules.get(module_name)
            if module is None and module_name.startswith("dh_serverless."):
                with contextlib.suppress(ImportError):
                    module = importlib.import_module(module_name)
            for name in names.replace(" ", "").split(","):
                if module is not None and hasattr(module, name):
                    namespace.setdefault(name, getattr(module, name))
        seen: set[tuple[str, str | None]] = set()
        for match in _NAME.finditer(code):
            name, attribute = match.group(1), match.group(2)
            if (name, attribute) in seen or name not in namespace:
                continue
            seen.add((name, attribute))
            value = namespace[name]
            if isinstance(value, str) and _PROCESS_WORKERS.search(value):
                yield _process_workers
                continue
            if isinstance(value, ModuleType):
                if attribute is None:
                    continue
                value = getattr(value, attribute, None)
            if inspect.isfunction(value):
                value = inspect.unwrap(value)  # decorated: read the function itself
            if (inspect.isfunction(value) or inspect.isclass(value)) and self._ours(value):
                yield value

    def item_starts_processes(self, item: pytest.Function) -> bool:
        """Whether the test ``item`` or one of its fixtures may start a process."""
        if self.starts_processes(item.obj):
            return True
        definitions = item._fixtureinfo.name2fixturedefs
        for name in item.fixturenames:
            for definition in definitions.get(name, ()):
                func = definition.func
                if self._ours(inspect.unwrap(func)) and self.starts_processes(func):
                    return True
        return False


class _SpawnWatch:
    """Notes every process started while it is on (subprocess, multiprocessing, fork)."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self._undo: list[Callable[[], None]] = []

    def _wrap(self, owner: Any, name: str, describe: Callable[..., str]) -> None:
        original = getattr(owner, name)

        def watched(*args: Any, **kwargs: Any) -> Any:
            self.started.append(describe(*args, **kwargs))
            return original(*args, **kwargs)

        setattr(owner, name, watched)
        self._undo.append(lambda: setattr(owner, name, original))

    def __enter__(self) -> _SpawnWatch:
        self._wrap(subprocess.Popen, "_execute_child", lambda _self, args, *_, **__: repr(args))
        self._wrap(multiprocessing.util, "spawnv_passfds", lambda path, args, _fds: repr(args))
        self._wrap(os, "fork", lambda: "os.fork()")
        return self

    def __exit__(self, *_: object) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()


def mark_items(lanes: Lanes, items: list[pytest.Item]) -> None:
    """Give the ``process`` marker to every test of ``items`` that may start a process
    (call from ``pytest_collection_modifyitems``)."""
    for item in items:
        if (
            isinstance(item, pytest.Function)
            and item.get_closest_marker(PROCESS) is None
            and lanes.item_starts_processes(item)
        ):
            item.add_marker(PROCESS)


def watch_item(item: pytest.Item, phase: str) -> Generator[None, None, None]:
    """The body of a ``pytest_runtest_setup``/``call`` wrapper: a test outside the
    ``process`` lane that starts a process fails, naming the process."""
    if item.get_closest_marker(PROCESS) is not None:
        yield
        return
    with _SpawnWatch() as watch:
        yield
    if watch.started:
        raise pytest.fail.Exception(
            f"{item.nodeid} started a process in its {phase} ({watch.started[0][:200]}) but is"
            f" not in the '{PROCESS}' lane: the scan of dh_serverless.testing.lanes did not see"
            f" how; mark it @pytest.mark.{PROCESS}",
            pytrace=False,
        )


MARKER_LINE = (
    f"{PROCESS}: starts processes (servers, peers, browsers, builds); set automatically by"
    " dh_serverless.testing.lanes, `make test-fast` runs the other tests"
)
