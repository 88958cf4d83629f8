"""The meta distribution and tox.ini keep up with the distribution folders."""

from __future__ import annotations

import configparser
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = sorted(p.parent for p in ROOT.glob("plugins/*/pyproject.toml"))
DISTRIBUTIONS = sorted(
    p.parent
    for pattern in ("hookspecs", "core", "plugins/*", "contrib/plugins/*")
    for p in ROOT.glob(f"{pattern}/pyproject.toml")
)


def project(folder: Path) -> dict:
    return tomllib.loads((folder / "pyproject.toml").read_text())["project"]


def test_meta_distribution_has_one_extra_per_plugin_folder() -> None:
    meta = project(ROOT)
    extras = {
        name: [Requirement(r).name for r in reqs]
        for name, reqs in meta["optional-dependencies"].items()
        if name not in ("all", "dhcore")
    }
    offered = {dist for reqs in extras.values() for dist in reqs}
    folders = {project(folder)["name"] for folder in PLUGINS}
    assert offered == folders, (
        "root pyproject.toml: each plugins/* distribution needs one extra "
        f"(missing: {sorted(folders - offered)}, without a folder: {sorted(offered - folders)})"
    )


def test_all_extra_covers_every_extra() -> None:
    meta = project(ROOT)
    (everything,) = meta["optional-dependencies"]["all"]
    assert Requirement(everything).name == meta["name"]
    # dhcore (the DH SDK, ~825 MiB) is the one extra `all` leaves out, by design.
    assert Requirement(everything).extras == set(meta["optional-dependencies"]) - {"all", "dhcore"}
    assert meta["optional-dependencies"]["dhcore"] == ["dh-serverless-dhcore"]


def test_meta_distribution_depends_on_core() -> None:
    assert [Requirement(r).name for r in project(ROOT)["dependencies"]] == ["dh-serverless-core"]


def test_tox_has_an_environment_per_distribution() -> None:
    tox = configparser.ConfigParser()
    tox.read(ROOT / "tox.ini")
    env_list = {e.strip() for e in tox["tox"]["env_list"].split(",")}
    for folder in DISTRIBUTIONS:
        env = folder.name
        assert env in env_list, f"tox.ini: add {env} to env_list"
        assert tox.has_section(f"testenv:{env}"), f"tox.ini: add [testenv:{env}]"
    assert "tests" in env_list
    root_deps = tox["testenv:tests"]["deps"]
    for folder in [ROOT / "hookspecs", ROOT / "core", *PLUGINS]:
        rel = folder.relative_to(ROOT).as_posix()
        assert f"{{toxinidir}}/{rel}" in root_deps, f"tox.ini: add {rel} to [testenv:tests] deps"


def test_the_install_hint_of_each_plugin_names_its_distribution_and_extra() -> None:
    from dh_serverless.core.plugins import KNOWN_EXTRAS, SINKS, TRIGGERS, distribution_hint

    extras = project(ROOT)["optional-dependencies"]
    groups = {"dh_serverless.triggers": TRIGGERS, "dh_serverless.sinks": SINKS}
    for folder in PLUGINS:
        meta = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
        for group, points in meta.get("entry-points", {}).items():
            for kind in points:
                hint = distribution_hint(groups[group], kind)
                extra = KNOWN_EXTRAS[groups[group]].get(kind)
                assert extra is not None, f"core plugins.KNOWN_EXTRAS: add {group} {kind!r}"
                assert hint == f"{meta['name']} (pip install 'dh-serverless[{extra}]')"
                assert [Requirement(r).name for r in extras[extra]] == [meta["name"]]
    # A kind shipped both as a trigger and as a sink: each hint names its own distribution.
    assert "dh-trigger-rtsp" in distribution_hint(TRIGGERS, "rtsp")
    assert "dh-serverless[rtsp-trigger]" in distribution_hint(TRIGGERS, "rtsp")
    assert "dh-serverless[rtsp]" in distribution_hint(SINKS, "rtsp")
    assert "dh-serverless[websocket-trigger]" in distribution_hint(TRIGGERS, "websocket")
    assert "dh-serverless[websocket]" in distribution_hint(SINKS, "websocket")
    assert "dh-serverless[" not in distribution_hint(TRIGGERS, "kafka")  # no such extra
