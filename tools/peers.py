"""Make the virtual environments of heavy peers (MLServer, KServe, the DH SDK) under ``.peers/``.

Tests and benchmarks share these venvs; each peer lives in its own, never in ``.venv``, so
its ~800 MiB of dependencies do not reach the runtime's extras. ``.peers/`` is git-ignored.

    python tools/peers.py                 # list the peers
    python tools/peers.py mlserver kserve # make (or reuse) their venvs; prints each python path

A venv is made once and reused while its requirements are unchanged (a stamp file keeps them).
From Python: ``from peers import peer_python; peer_python("mlserver")`` with ``tools/`` on the path.

``DH_PEERS_DIR`` points several checkouts (git worktrees) at one folder of peers. The peers
that hold this checkout's own distributions (editable: the DH SDK ones) still live in this
checkout's ``.peers/``, never in the shared folder (they would run another checkout's code);
when the shared folder has one with the same third-party requirements, it is copied (hard
links) and only our distributions are installed again: seconds instead of minutes.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OWN_PEERS_DIR = ROOT / ".peers"
PEERS_DIR = Path(os.environ.get("DH_PEERS_DIR", OWN_PEERS_DIR))
_EDITABLE = "--editable="

#: Our own distributions, editable, for peers that run dh-serverless itself (the DH SDK).
_DH_SERVERLESS = [
    f"--editable={ROOT / folder}"
    for folder in (
        "hookspecs",
        "core",
        "plugins/trigger_http",
        "plugins/trigger_job",
        "contrib/dhcore",
    )
]

#: peer name -> pip requirements of its venv. Add a peer with one line.
PEERS: dict[str, list[str]] = {
    # The DH SDK as DH Core's images hold it, one venv per supported release line.
    "dhcore-0.15": [
        "digitalhub[full]==0.15.11",
        "digitalhub-runtime-python==0.15.2",
        *_DH_SERVERLESS,
    ],
    "dhcore-0.16": [
        "digitalhub[full]==0.16.0b19",
        "digitalhub-runtime-python==0.16.0b12",
        *_DH_SERVERLESS,
    ],
    # openinference: the Open Inference Protocol servers bench/openinference compares against
    "mlserver": ["mlserver==1.7.1"],
    "kserve": ["kserve==0.21.0"],
}


def _third_party(requirements: list[str]) -> list[str]:
    return [line for line in requirements if not line.startswith(_EDITABLE)]


def _stamped(folder: Path) -> list[str] | None:
    """The requirements ``folder``'s venv was made with (None: no usable venv there)."""
    stamp = folder / ".requirements"
    if not (folder / "bin" / "python").exists() or not stamp.exists():
        return None
    return stamp.read_text().splitlines()


def _copy_venv(source: Path, folder: Path) -> None:
    """``source``'s venv as ``folder``: hard links (nothing of ``source`` is written to:
    pip replaces files, and the scripts naming ``source`` are written anew)."""
    shutil.rmtree(folder, ignore_errors=True)
    try:
        shutil.copytree(source, folder, symlinks=True, copy_function=os.link)
    except OSError:  # another file system: a plain copy
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(source, folder, symlinks=True)
    old, new = str(source).encode(), str(folder).encode()
    for path in [*(folder / "bin").iterdir(), folder / "pyvenv.cfg"]:
        if path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        if old in data:
            mode = path.stat().st_mode
            path.unlink()  # a new file, not the hard-linked one
            path.write_bytes(data.replace(old, new))
            path.chmod(mode)
    (folder / ".requirements").unlink(missing_ok=True)


def peer_python(name: str) -> Path:
    """The python of peer ``name``'s venv, made first if missing or stale."""
    try:
        requirements = PEERS[name]
    except KeyError:
        raise SystemExit(f"unknown peer {name!r}; known: {', '.join(sorted(PEERS))}") from None
    ours = _third_party(requirements) != requirements
    # A peer running this checkout's code belongs to this checkout.
    peers_dir = OWN_PEERS_DIR if ours else PEERS_DIR
    folder = peers_dir / name
    python = folder / "bin" / "python"
    stamp = folder / ".requirements"
    wanted = "\n".join(requirements) + "\n"
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    # One maker at a time (parallel test processes may all ask for the same peer).
    peers_dir.mkdir(parents=True, exist_ok=True)
    with (peers_dir / f".{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if python.exists() and stamp.exists() and stamp.read_text() == wanted:
            return python
        pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        shared = PEERS_DIR / name
        seed = next(
            (
                candidate
                for candidate in (folder, shared)
                if (made := _stamped(candidate)) is not None
                and _third_party(made) == _third_party(requirements)
            ),
            None,
        )
        if ours and seed is not None:
            print(f"tools/peers.py: {name}: our distributions into {folder}", file=sys.stderr)
            if seed != folder:
                _copy_venv(seed, folder)
            editables = [line for line in requirements if line.startswith(_EDITABLE)]
            subprocess.run([*pip, "--no-deps", *editables], check=True)
        else:
            print(f"tools/peers.py: making the {name} venv in {folder} (once)", file=sys.stderr)
            venv.EnvBuilder(with_pip=True, clear=True).create(folder)
            subprocess.run([*pip, *requirements], check=True)
        stamp.write_text(wanted)
    return python


def main(argv: list[str]) -> int:
    if not argv:
        for name, requirements in sorted(PEERS.items()):
            print(f"{name}: {' '.join(requirements)}")
        return 0
    for name in argv:
        print(peer_python(name))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
