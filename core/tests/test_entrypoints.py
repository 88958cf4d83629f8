"""find_group reads the same entry points importlib.metadata finds, for one group."""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

import pytest

from dh_serverless.core import entrypoints
from dh_serverless.core.entrypoints import find_group
from dh_serverless.core.plugins import HOOK_PLUGINS, SINKS, TRIGGERS


def dist(site: Path, folder: str, text: str | None) -> None:
    info = site / folder
    info.mkdir(parents=True)
    name = folder.split("-")[0].replace("_", "-")
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    if text is not None:
        (info / "entry_points.txt").write_text(text)


def test_one_group_from_several_distributions_first_on_the_path_wins(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    dist(first, "dh_trigger_x-1.0.dist-info", "[dh_serverless.triggers]\nx = pkg.x:X\n")
    dist(
        first,
        "other-2.0.dist-info",
        "# a comment\n[console_scripts]\nx = nope:main\n\n[dh_serverless.triggers]\n"
        "y=pkg.y:Y\n# another\n[dh_serverless.sinks]\nz = pkg.z:Z\n",
    )
    dist(first, "no_entry_points-1.0.dist-info", None)
    dist(second, "dh_trigger_x-0.9.dist-info", "[dh_serverless.triggers]\nold = old:Old\n")
    dist(second, "legacy.egg-info", "[dh_serverless.triggers]\nlegacy = legacy:L\n")
    path = [str(first), str(second), str(tmp_path / "missing"), str(tmp_path / "a.zip")]

    found = find_group("dh_serverless.triggers", path)
    assert sorted((ep.name, ep.value) for ep in found) == [
        ("legacy", "legacy:L"),
        ("x", "pkg.x:X"),
        ("y", "pkg.y:Y"),
    ]
    expected = importlib.metadata.EntryPoints(
        ep
        for d in importlib.metadata.distributions(path=path)
        for ep in d.entry_points
        if ep.group == "dh_serverless.triggers"
    )
    assert {(ep.name, ep.value) for ep in found} <= {(ep.name, ep.value) for ep in expected}
    assert [(ep.name, ep.value) for ep in find_group("dh_serverless.sinks", path)] == [
        ("z", "pkg.z:Z")
    ]


@pytest.mark.parametrize("group", [TRIGGERS, SINKS, HOOK_PLUGINS])
def test_the_installed_plugins_match_importlib_metadata(group):
    ours = {(ep.name, ep.value) for ep in find_group(group)}
    theirs = {(ep.name, ep.value) for ep in importlib.metadata.entry_points(group=group)}
    assert ours == theirs


def test_load_imports_the_named_attribute(tmp_path, monkeypatch):
    site = tmp_path / "site"
    dist(site, "dh_trigger_t-1.0.dist-info", "[dh_serverless.triggers]\nt = tmod.inner:Cls.attr\n")
    (site / "tmod").mkdir()
    (site / "tmod" / "__init__.py").write_text("")
    (site / "tmod" / "inner.py").write_text("class Cls:\n    attr = 42\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(entrypoints, "_scanned", None)
    (ep,) = [e for e in find_group("dh_serverless.triggers") if e.name == "t"]
    assert ep.module == "tmod.inner"
    assert ep.load() == 42
    sys.modules.pop("tmod.inner", None)
    sys.modules.pop("tmod", None)
