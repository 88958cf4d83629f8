"""contrib/deploy/dhcore: DH Core's /opt/nuclio layout, built by the recipe's own script into a
temporary root, installed offline and run the way DH Core's entrypoint runs it (layer mode: a
uv venv with the system site-packages, both requirement files from ``whl/`` alone, then
``/opt/nuclio/processor --config``), as DH Core's user (uid 8877, gid 999)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dhcore_fixtures import job_yaml, run_entity

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "contrib" / "deploy" / "dhcore"
UID, GID = 8877, 999
DEFAULT_EXTRAS = (
    "dh-serverless[http,job,extproc,openinference,rtsp-trigger,websocket-trigger]==0.1.0"
)

# Builds a layer with pip (minutes on a cold cache or a busy machine).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

HANDLER = """
import json
import os


def handler(context, event):
    run = json.loads(event.body)
    if run["spec"]["parameters"].get("fail"):
        raise RuntimeError("asked to fail")
    return {"run": run["id"], "home": os.environ["HOME"], "uid": os.getuid()}
"""


@pytest.fixture(scope="module")
def world() -> Iterator[Path]:
    """A folder every user may enter (pytest's own temporary folders are root-only)."""
    folder = Path(tempfile.mkdtemp(prefix="dh-dhcore-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def layer(world: Path) -> Path:
    """``build-layer.sh`` into ``world/layer``, without the DH SDK (tested in its own venvs).

    It builds our wheels itself, as the container recipes do (without build isolation:
    hatchling is installed here, and an isolated env per distribution costs a minute).
    """
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "DH_SDK_VERSION": "",
        "PIP_WHEEL_OPTIONS": "--no-build-isolation",
    }
    result = subprocess.run(
        ["sh", RECIPE / "build-layer.sh", ROOT, world / "layer"],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for path in (world / "layer").rglob("*"):
        path.chmod(path.stat().st_mode | 0o044 | (0o011 if path.is_dir() else 0))
    return world / "layer" / "opt" / "nuclio"


def base_python() -> str:
    """The interpreter the test venv was made from: a plain ``python3`` as in python:3.1X-slim."""
    return str(Path(sys._base_executable).resolve())  # type: ignore[attr-defined]


def user_python() -> str:
    """A ``python3.X`` of this minor version that uid 8877 may run (the wheels are for it)."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [f"/usr/local/bin/python{version}", f"/usr/bin/python{version}", base_python()]
    for candidate in candidates:
        if not Path(candidate).exists():
            continue
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, **as_dhcore_user(),
        )  # fmt: skip
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    pytest.skip(f"no python{version} that uid {UID} may run")


def as_dhcore_user() -> dict[str, int]:
    """Run a subprocess as DH Core's user (the tests need root for it, as CI has)."""
    if os.geteuid() != 0:
        pytest.skip(f"running as uid {UID} needs root")
    return {"user": UID, "group": GID, "extra_groups": []}


def test_layout(layer: Path) -> None:
    assert os.access(layer / "processor", os.X_OK)
    uv = subprocess.run([layer / "uv" / "uv", "--version"], capture_output=True, text=True)
    assert uv.returncode == 0
    assert uv.stdout.startswith("uv ")
    nuclio = (layer / "requirements" / "nuclio.txt").read_text().split("\n")
    # Every trigger DH Core launches (job, serve: http, guardrail: extproc, openinference) and
    # the original's input triggers.
    assert DEFAULT_EXTRAS in nuclio
    assert "nuclio-sdk" in nuclio
    assert (layer / "requirements" / "common.txt").read_text().startswith("# Built without")
    wheels = {p.name.split("-")[0] for p in (layer / "whl").glob("*.whl")}
    assert {
        "dh_serverless", "dh_serverless_core", "dh_trigger_http", "dh_trigger_job",
        "dh_trigger_extproc", "dh_trigger_openinference", "dh_trigger_websocket",
    } <= wheels  # fmt: skip
    assert {"aiohttp", "nuclio_sdk", "pyyaml"} <= wheels


@pytest.fixture(scope="module")
def layer_venv(layer: Path, world: Path) -> dict[str, str]:
    """DH Core's entrypoint in layer mode, as uid 8877: the environment of the activated venv."""
    as_dhcore_user()  # skips unless root
    home = world / "shared"
    home.mkdir()
    os.chown(home, UID, GID)
    python = user_python()
    path = f"{Path(python).parent}:/usr/local/bin:/usr/bin:/bin"
    env = {"HOME": str(home), "PATH": path, "USER": "nonroot", "LANG": "C.UTF-8"}
    uv = str(layer / "uv" / "uv")
    cache = f"{home}/.uv_cache"
    subprocess.run(
        [uv, "venv", f"{home}/.venv", "--system-site-packages", "--allow-existing",
         "--cache-dir", cache, "--python", python],
        check=True, capture_output=True, env=env, cwd=home, timeout=120, **as_dhcore_user(),
    )  # fmt: skip
    env.update(VIRTUAL_ENV=f"{home}/.venv", PATH=f"{home}/.venv/bin:{path}")
    for requirements in ("nuclio", "common"):
        result = subprocess.run(
            [uv, "pip", "install", "--cache-dir", cache, "--no-index",
             "--find-links", str(layer / "whl"),
             "-r", str(layer / "requirements" / f"{requirements}.txt")],
            capture_output=True, text=True, env=env, cwd=home, timeout=300, **as_dhcore_user(),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    return env


def run_processor(
    layer: Path, env: dict[str, str], config: Path | None
) -> subprocess.CompletedProcess[str]:
    args = [str(layer / "processor"), "--health-host", "127.0.0.1", "--health-port", "0"]
    if config is not None:
        args += ["--config", str(config)]
    return subprocess.run(
        args, capture_output=True, text=True, env=env, cwd=env["HOME"], timeout=120,
        **as_dhcore_user(),
    )  # fmt: skip


def write_function(home: Path, name: str, **parameters: object) -> Path:
    folder = home / name
    folder.mkdir()
    (folder / "handler.py").write_text(textwrap.dedent(HANDLER))
    run = run_entity("demo", f"run-{name}", "job", parameters=parameters)
    (folder / "function.yaml").write_text(job_yaml(run))
    for path in (folder, *folder.iterdir()):
        os.chown(path, UID, GID)
    return folder / "function.yaml"


def test_layer_installs_offline_and_runs_a_job_as_dhcore_user(layer, layer_venv):
    home = Path(layer_venv["HOME"])
    result = run_processor(layer, layer_venv, write_function(home, "ok"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "job 'job' succeeded: 200 OK"
    assert lines[1] == f'{{"run": "run-ok", "home": "{home}", "uid": {UID}}}'
    # The processor ran with the venv's python, from the layer's wheels.
    assert f"{home}/.venv" in subprocess.run(
        ["python3", "-c", "import dh_serverless.core, sys; print(sys.prefix)"],
        capture_output=True, text=True, env=layer_venv, check=True,
    ).stdout  # fmt: skip


def test_layer_job_failure_exits_1(layer, layer_venv):
    result = run_processor(
        layer, layer_venv, write_function(Path(layer_venv["HOME"]), "bad", fail=True)
    )
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == "job 'job' failed: 500 Internal Server Error"


def test_layer_processor_without_config_names_the_path(layer, layer_venv):
    # docker run -e PROJECT_NAME=... -e RUN_ID=... <image>: nothing mounted.
    env = {**layer_venv, "PROJECT_NAME": "demo", "RUN_ID": "r1"}
    result = run_processor(layer, env, None)
    assert result.returncode == 2
    assert (
        "no function configuration at /etc/nuclio/config/processor/processor.yaml" in result.stderr
    )


# ---------------------------------------------------------------------------
# The container recipes
# ---------------------------------------------------------------------------


def test_prebuilt_recipe_matches_dhcore_contract() -> None:
    text = (RECIPE / "Containerfile.dhcore").read_text()
    assert "ARG PYTHON_VERSION=3.12" in text
    assert "sh contrib/deploy/dhcore/build-layer.sh . /layer" in text
    assert "COPY --from=build /layer/opt/nuclio /opt/nuclio" in text
    assert "install-prebuilt.sh /opt/nuclio" in text
    assert "useradd --uid 8877 --gid 999 --home-dir /shared" in text
    assert "HOME=/shared" in text
    assert "USER 8877:999" in text
    assert 'CMD ["/opt/nuclio/processor"]' in text


@pytest.mark.parametrize("recipe", ["Containerfile.dhcore", "Containerfile.dhcore-layer"])
def test_recipes_default_to_the_scripts_extras_and_name_python_3_10(recipe: str) -> None:
    text = (RECIPE / recipe).read_text()
    assert "ARG EXTRAS=\n" in text  # empty: build-layer.sh's default, one list to keep
    assert "3.10, 3.11, 3.12 or 3.13" in text
    script = (RECIPE / "build-layer.sh").read_text()
    assert "extras=${EXTRAS:-http,job,extproc,openinference,rtsp-trigger,websocket-trigger}" in (
        script
    )


def test_layer_recipe_holds_only_opt_nuclio() -> None:
    text = (RECIPE / "Containerfile.dhcore-layer").read_text()
    final = text[text.rindex("FROM ") :]
    assert final.splitlines()[0] == "FROM scratch"
    assert "COPY --from=build --chown=8877:999 /layer/opt/nuclio /opt/nuclio" in final


def test_prebuilt_install_step_installs_into_a_python(layer, world):
    venv = world / "prebuilt"
    subprocess.run([base_python(), "-m", "venv", venv], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k == "PIP_COMPILE"}
    env["PIP_CONFIG_FILE"] = os.devnull
    result = subprocess.run(
        ["sh", RECIPE / "install-prebuilt.sh", layer, venv / "bin" / "python"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("python")


@pytest.mark.parametrize("version", ["3.9", "3.14"])
def test_build_refuses_unsupported_python_versions(tmp_path, version) -> None:
    fake = tmp_path / "python"
    fake.write_text(f"#!/bin/sh\necho {version}\n")
    fake.chmod(0o755)
    result = subprocess.run(
        ["sh", RECIPE / "build-layer.sh", ROOT, tmp_path / "out"],
        capture_output=True, text=True, env={**os.environ, "PYTHON": str(fake)},
    )  # fmt: skip
    assert result.returncode == 2
    assert f"Python {version} is not supported: use 3.10, 3.11, 3.12 or 3.13" in result.stderr


def test_build_names_a_wheels_folder_without_our_wheels(tmp_path) -> None:
    result = subprocess.run(
        ["sh", RECIPE / "build-layer.sh", ROOT, tmp_path / "out"],
        capture_output=True, text=True, env={**os.environ, "WHEELS": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 2
    assert f"WHEELS={tmp_path} holds no dh_serverless wheel: run 'make wheels" in result.stderr


@pytest.mark.parametrize("script", ["build-layer.sh", "install-prebuilt.sh"])
def test_scripts_explain_their_arguments(script: str) -> None:
    result = subprocess.run(["sh", RECIPE / script], capture_output=True, text=True)
    assert result.returncode == 2
    assert "usage:" in result.stderr


def python310() -> str | None:
    """A Python 3.10 on this machine that runs (PATH, or pyenv's), for DH Core's 3.10 images."""
    candidates = [
        *sorted(str(p) for p in Path.home().glob(".pyenv/versions/3.10*/bin/python3.10")),
        shutil.which("python3.10"),
    ]
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 10))"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        if probe.stdout.strip() == "True":
            return candidate
    return None


class TestPython310:
    """DH Core's 3.10 images (a class: parallel runs give this long build its own worker)."""

    @pytest.mark.timeout(1500)  # builds every wheel for 3.10
    @pytest.mark.skipif(python310() is None, reason="no Python 3.10 here (pyenv or python3.10)")
    def test_a_python_3_10_layer_installs_offline_and_runs_a_job(self, world, wheelhouse, tmp_path):
        """DH Core's 3.10 image: the layer built with Python 3.10 from the wheels ``make wheels``
        built (``WHEELS``), installed offline into a 3.10 venv with pip (as install-prebuilt.sh
        does), runs a job with the default extras."""
        python = python310()
        assert python is not None
        env = {**os.environ, "PYTHON": python, "DH_SDK_VERSION": "", "WHEELS": str(wheelhouse)}
        built = subprocess.run(
            ["sh", RECIPE / "build-layer.sh", ROOT, world / "layer310"],
            capture_output=True, text=True, env=env, timeout=900,
        )  # fmt: skip
        assert built.returncode == 0, built.stderr[-3000:]
        layer = world / "layer310" / "opt" / "nuclio"
        assert DEFAULT_EXTRAS in (layer / "requirements" / "nuclio.txt").read_text().split("\n")
        venv = tmp_path / "venv310"
        subprocess.run([python, "-m", "venv", venv], check=True, timeout=120)
        pip_env = {
            k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k == "PIP_COMPILE"
        }
        pip_env["PIP_CONFIG_FILE"] = os.devnull
        installed = subprocess.run(
            ["sh", RECIPE / "install-prebuilt.sh", layer, venv / "bin" / "python"],
            capture_output=True, text=True, env=pip_env, timeout=600,
        )  # fmt: skip
        assert installed.returncode == 0, installed.stderr[-3000:]
        home = tmp_path / "shared"
        home.mkdir()
        folder = home / "ok"
        folder.mkdir()
        (folder / "handler.py").write_text(
            "import sys\n\ndef handler(context, event):\n    return sys.version[:4]\n"
        )
        (folder / "function.yaml").write_text(job_yaml(run_entity("demo", "run-310", "job")))
        env310 = {"HOME": str(home), "PATH": f"{venv}/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
        result = subprocess.run(
            [str(layer / "processor"), "--config", str(folder / "function.yaml"),
             "--health-host", "127.0.0.1", "--health-port", "0"],
            capture_output=True, text=True, env=env310, cwd=home, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[:2] == ["job 'job' succeeded: 200 OK", "3.10"]
        plugins = subprocess.run(
            [venv / "bin" / "dh-serverless", "plugins"], capture_output=True, text=True, timeout=60
        )
        for kind in ("http", "job", "extproc", "openinference", "websocket"):
            assert kind in plugins.stdout, plugins.stdout
