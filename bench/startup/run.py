"""bench/startup: how long a function takes to start, against plain Python.

- job: ``dh-serverless run`` of a job function with a trivial handler, process start to exit;
  beside it ``python -c "import handler; handler.handler(None, None)"``, the floor.
- http: ``dh-serverless run`` of an http function, process start to its first 200 answer;
  beside it a bare aiohttp server started the same way.

Cases run in turns, round after round, after one warm-up round; the table shows the median
wall time, the median CPU time (user + system of the process, steadier on a shared machine)
and the peak RSS. ``PYTHONDONTWRITEBYTECODE`` is cleared for the runs, so that every module is
loaded from its ``.pyc`` as in an installed image, not compiled at each start.

    python bench/startup/run.py [--rounds 15] [--source DIR] [--bin DIR]

``--source DIR`` adds both dh-serverless cases run from another checkout of this repository
(its ``src`` folders first on ``PYTHONPATH``), marked ``(--source)``, in the same rounds:
before and after a change, side by side. This checkout's cases then put its own ``src``
folders on ``PYTHONPATH`` the same way: every entry of ``sys.path`` costs each import a
lookup (seventeen of them cost a job about 10 % of its instructions), so both sides pay alike.

``--bin DIR`` runs the ``dh-serverless`` of another environment, for example a venv with the
wheels installed (``make wheels``) as an image has them: one ``site-packages`` instead of the
development venv's seventeen editable ``src`` folders.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import BIN, free_port, source_path

HANDLER = """
def handler(context, event):
    return "ok"
"""

JOB_YAML = """
apiVersion: nuclio.io/v1
kind: NuclioFunction
metadata: {name: startup}
spec:
  handler: handler:handler
  triggers:
    job: {kind: job, attributes: {event: {body: hi}}}
"""

HTTP_YAML = """
apiVersion: nuclio.io/v1
kind: NuclioFunction
metadata: {name: startup}
spec:
  handler: handler:handler
  triggers:
    http: {kind: http, attributes: {host: 127.0.0.1, port: PORT}}
"""

BARE_AIOHTTP = """
import sys
from aiohttp import web

async def hello(request):
    return web.Response(text="ok")

app = web.Application()
app.router.add_route("*", "/", hello)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""

ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
Sample = tuple[float, float, float]  # wall s, cpu s, peak rss MiB


# Linux counts the memory a child had before its exec into the child's peak RSS: forked
# from this bench (~30 MiB), every job would seem to peak at 30 MiB. Jobs are therefore
# started by this small helper, forked from its ~7 MiB, which reports each run's figures.
SPAWNER = r"""
import json, os, sys, time
for line in sys.stdin:
    cmd, cwd, env, errors = json.loads(line)
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.chdir(cwd)
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        os.dup2(os.open(errors, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 2)
        os.execve(cmd[0], cmd, env)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    cpu = usage.ru_utime + usage.ru_stime
    print(json.dumps([wall, cpu, usage.ru_maxrss, os.waitstatus_to_exitcode(status)]), flush=True)
"""


class Spawner:
    """Runs commands to their exit from a small process of its own (see ``SPAWNER``)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", SPAWNER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, cmd: list[str], cwd: Path, env: dict[str, str] = ENV) -> Sample:
        """Run ``cmd`` in ``cwd`` until it exits 0: wall and CPU seconds, peak RSS in MiB."""
        stdin, stdout = self.proc.stdin, self.proc.stdout
        assert stdin is not None
        assert stdout is not None
        errors = cwd / "stderr.txt"
        stdin.write(json.dumps([cmd, str(cwd), env, str(errors)]) + "\n")
        stdin.flush()
        wall, cpu, rss_kib, code = json.loads(stdout.readline())
        if code != 0:
            raise RuntimeError(f"{cmd} exited {code}: {errors.read_text()[-2000:]}")
        return wall, cpu, rss_kib / 1024

    def close(self) -> None:
        """Stop the helper."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=10)


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def run_to_answer(
    make_cmd: Callable[[int], list[str]], cwd: Path, env: dict[str, str] = ENV
) -> Sample:
    """Start a server and time until it answers ``GET /`` with 200; then stop it."""
    port = free_port()
    cmd = make_cmd(port)
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0 and _answers(port):
                    break
            if proc.poll() is not None or time.perf_counter() - start > 30:
                raise RuntimeError(f"{cmd} did not answer")
            time.sleep(0.002)
        wall = time.perf_counter() - start
    finally:
        proc.terminate()
    # CPU of the whole run, start to stop: the server idles between its answer and the stop.
    _, _, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--duration", type=float, default=0, help="ignored (bench smoke test)")
    parser.add_argument("--source", type=Path, help="also run the functions from this checkout")
    parser.add_argument("--bin", type=Path, default=BIN, help="where dh-serverless is")
    args = parser.parse_args()
    python = sys.executable
    ours = str(args.bin / "dh-serverless")
    env = ENV
    if args.source is not None:
        env = {**ENV, "PYTHONPATH": source_path(Path(__file__).resolve().parents[2])}
    spawner = Spawner()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "handler.py").write_text(HANDLER)
        (work / "job.yaml").write_text(JOB_YAML)
        (work / "bare.py").write_text(BARE_AIOHTTP)

        def http_cmd(port: int) -> list[str]:
            path = work / f"http-{port}.yaml"
            path.write_text(HTTP_YAML.replace("PORT", str(port)))
            return [ours, "run", str(path), "--no-health"]

        cases: dict[str, Callable[[], Sample]] = {
            "job: plain python": lambda: spawner.run(
                [python, "-c", "import handler; handler.handler(None, None)"], work
            ),
            "job: dh-serverless run": lambda: spawner.run([ours, "run", "job.yaml"], work, env),
            "http: bare aiohttp": lambda: run_to_answer(
                lambda port: [python, "bare.py", str(port)], work
            ),
            "http: dh-serverless run": lambda: run_to_answer(http_cmd, work, env),
        }
        if args.source is not None:
            before = {**ENV, "PYTHONPATH": source_path(args.source)}
            cases["job: dh-serverless run (--source)"] = lambda: spawner.run(
                [ours, "run", "job.yaml"], work, before
            )
            cases["http: dh-serverless run (--source)"] = lambda: run_to_answer(
                http_cmd, work, before
            )
        for case in cases.values():  # warm-up: writes the .pyc files
            case()
        samples: dict[str, list[Sample]] = {name: [] for name in cases}
        for _ in range(args.rounds):
            for name, case in cases.items():
                samples[name].append(case())
    spawner.close()

    def med(name: str, i: int) -> float:
        return statistics.median(s[i] for s in samples[name])

    source = f"; (--source) = the code in {args.source}" if args.source else ""
    if args.bin != BIN:
        source += f"; dh-serverless from {args.bin}"
    print(
        f"bench/startup: {args.rounds} rounds, cases in turns; python {sys.version.split()[0]}"
        f"{source}"
    )
    print()
    print("| case | wall median (ms) | CPU median (ms) | peak RSS (MiB) | wall ÷ floor |")
    print("|---|---:|---:|---:|---:|")
    floors = {"job": "job: plain python", "http": "http: bare aiohttp"}
    for name in cases:
        floor = floors[name.split(":")[0]]
        ratio = med(name, 0) / med(floor, 0)
        rss = max(s[2] for s in samples[name])
        print(
            f"| {name} | {med(name, 0) * 1000:.0f} | {med(name, 1) * 1000:.0f} "
            f"| {rss:.1f} | {ratio:.2f}x |"
        )


if __name__ == "__main__":
    main()
