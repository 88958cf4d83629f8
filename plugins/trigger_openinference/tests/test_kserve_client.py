"""KServe's own clients (its venv from tools/peers.py) use the trigger like any v2 server."""

from __future__ import annotations

import subprocess
import sys

from oi_support import FUNCTIONS, ROOT


def test_kserve_clients_rest_and_grpc(identity_server):
    sys.path.insert(0, str(ROOT / "tools"))
    from peers import peer_python

    python = peer_python("kserve")  # made once (minutes) if missing; CI makes it first
    done = subprocess.run(
        [str(python), str(FUNCTIONS / "kserve_client.py"), identity_server.url,
         identity_server.grpc_url],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines() == [
        "rest ready: True",
        "rest model ready: True",
        "rest json: True id=kserve-1",
        "rest binary: True id=kserve-1",
        "grpc: True id=kserve-1",
        "grpc model ready: True",
    ]
