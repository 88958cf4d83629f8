"""Plugins import the core only through its declared API, and never import each other."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from dh_serverless.core import api

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_SOURCES = sorted(
    path
    for pattern in ("plugins/*/src/**/*.py", "contrib/plugins/*/src/**/*.py")
    for path in ROOT.glob(pattern)
    if "_generated" not in path.parts
)
ALLOWED = ("dh_serverless.core.api", "dh_serverless.hookspecs", "dh_serverless.testing")


def imported_modules(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "dh_serverless.core":
                names += [f"dh_serverless.core.{alias.name}" for alias in node.names]
            else:
                names.append(node.module)
    return names


def own_package(path: Path) -> str:
    parts = path.relative_to(ROOT).parts
    src = parts.index("src")
    return ".".join(parts[src + 1 : src + 4])  # dh_serverless.triggers.http


def test_there_are_plugins_to_check():
    assert len({own_package(p) for p in PLUGIN_SOURCES}) >= 10


@pytest.mark.parametrize("path", PLUGIN_SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_plugin_imports_only_the_declared_core_api(path: Path):
    core = [
        name
        for name in imported_modules(path)
        if name.startswith("dh_serverless.core") and not name.startswith(ALLOWED)
    ]
    assert core == [], f"import these from dh_serverless.core.api instead: {core}"


@pytest.mark.parametrize("path", PLUGIN_SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_plugin_never_imports_another_plugin(path: Path):
    mine = own_package(path)
    foreign = [
        name
        for name in imported_modules(path)
        if name.startswith(("dh_serverless.triggers.", "dh_serverless.sinks."))
        and not name.startswith(mine)
    ]
    assert foreign == []


def test_the_api_lists_every_name_it_exports_and_each_resolves():
    typing_helpers = {"annotations", "TYPE_CHECKING", "Any"}
    public = {name for name in vars(api) if not name.startswith("_")} - typing_helpers
    assert public <= set(api.__all__)
    for name in api.__all__:
        assert getattr(api, name) is not None


def test_the_api_loads_no_http_stack():
    """A plugin without a listener (a job) must not pay for aiohttp or prometheus-client."""
    code = (
        "import sys\n"
        "import dh_serverless.core.api as api\n"
        "api.listener_timeouts(), api.runner_options()\n"
        "loaded = {'aiohttp', 'prometheus_client', 'grpc'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
