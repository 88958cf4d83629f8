"""Make the virtual environments of heavy peers (MLServer, KServe, the DH SDK) under ``.peers/``.

Tests and benchmarks share these venvs; each peer lives in its own, never in ``.venv``, so
its ~800 MiB of dependencies do not reach the runtime's extras. ``.peers/`` is git-ignored.

    python tools/peers.py                 # list the peers
    python tools/peers.py mlserver kserve # make (or reuse) their venvs; prints each python path

A venv is made once and reused while its requirements are unchanged (a stamp file keeps them).
From Python: ``from peers import peer_python; peer_python("mlserver")`` with ``tools/`` on the path.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEERS_DIR = Path(os.environ.get("DH_PEERS_DIR", ROOT / ".peers"))

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


def peer_python(name: str) -> Path:
    """The python of peer ``name``'s venv, made first if missing or stale."""
    try:
        requirements = PEERS[name]
    except KeyError:
        raise SystemExit(f"unknown peer {name!r}; known: {', '.join(sorted(PEERS))}") from None
    folder = PEERS_DIR / name
    python = folder / "bin" / "python"
    stamp = folder / ".requirements"
    wanted = "\n".join(requirements) + "\n"
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    # One maker at a time (parallel test processes may all ask for the same peer).
    PEERS_DIR.mkdir(parents=True, exist_ok=True)
    with (PEERS_DIR / f".{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if python.exists() and stamp.exists() and stamp.read_text() == wanted:
            return python
        print(f"tools/peers.py: making the {name} venv in {folder} (once)", file=sys.stderr)
        venv.EnvBuilder(with_pip=True, clear=True).create(folder)
        subprocess.run(
            [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             *requirements],
            check=True,
        )  # fmt: skip
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
