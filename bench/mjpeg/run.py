"""bench/mjpeg: the mjpeg trigger against a plain read-and-split loop, latency to an mjpeg
sink viewer, and a CPU-heavy handler on 1 and 2 process workers.

1. Ingest: ``source.py --fps 0`` pushes an ffmpeg-encoded clip as fast as the client
   reads (one prebuilt multipart blob, pinned to CPU 1). Either a plain
   aiohttp loop that reads and splits by Content-Length (the floor), or dh-serverless with
   the mjpeg trigger and an identity handler, no sink (pinned to CPU 0), reads it. Both
   run uvloop and read 1 MiB at a time. Frames per second handled and CPU ms per frame;
   the ratios are medians of per-round ratios (rounds alternate the two sides). On a busy
   machine the CPU ratio (floor CPU per frame / trigger CPU per frame) is the steadier.
2. Latency at 720p30: ``source.py`` sends a 720p clip at 30 fps, stamping each frame with
   its send time; ``viewer.py`` reads the mjpeg sink's stream and takes now minus stamp.
   The floor is the same viewer reading the source directly. Added = through - direct.
3. Scaling: the ``heavy`` handler (decode, two Sobel passes, encode, 640x480) on
   ``workerKind: process`` with maxWorkers 1 and 2, unpinned; ffmpeg sends 120 fps
   (``-readrate 4``), more than both workers take, so the rest is superseded. "CPUs busy"
   is the function's CPU seconds per second (main process and workers): when other work
   holds a CPU, two workers cannot scale and this column shows it.

    python bench/mjpeg/run.py [--duration 5] [--rounds 3] [--smoke] [--cases ingest,latency,scaling]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import BIN, cpu_seconds, free_port, pinned, stop, wait_for

HERE = Path(__file__).resolve().parent
PY = sys.executable
SERVER_CPU, LOAD_CPU = "0", "1"


def make_clip(folder: Path, size: str, frames: int) -> Path:
    clip = folder / f"clip-{size}.mjpeg"
    if not clip.exists():
        subprocess.run(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
             f"testsrc2=size={size}:rate=30", "-frames:v", str(frames), "-c:v", "mjpeg",
             "-q:v", "5", "-f", "mjpeg", "-y", str(clip)],
            check=True,
        )  # fmt: skip
    return clip


def ffmpeg_push(
    clip: Path, port: int, cpus: str | None = LOAD_CPU, readrate: float | None = None
) -> subprocess.Popen[bytes]:
    """ffmpeg serving ``clip`` in a loop on ``port``: as fast as one client reads, or at
    ``readrate`` times the clip's 30 fps."""
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "quiet", "-stream_loop", "-1"]
    if readrate:
        cmd += ["-readrate", str(readrate)]
    cmd += ["-i", str(clip)]
    cmd += [
        "-c",
        "copy",
        "-f",
        "mpjpeg",
        "-content_type",
        "multipart/x-mixed-replace;boundary=ffmpeg",
    ]
    cmd += ["-listen", "1", f"http://127.0.0.1:{port}/"]
    proc = subprocess.Popen(pinned(cpus, cmd), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)  # ffmpeg binds; a probe connection would use up its one client
    return proc


def function_yaml(
    handler: str, url: str, workers: int, kind: str = "auto", sink_port: int | None = None
) -> str:
    sink = (
        f"\n        sink: {{kind: mjpeg, attributes: {{port: {sink_port}, host: 127.0.0.1}}}}"
        if sink_port
        else ""
    )
    return f"""apiVersion: nuclio.io/v1
kind: NuclioFunction
metadata: {{name: bench}}
spec:
  handler: handlers:{handler}
  workerKind: {kind}
  triggers:
    cam:
      kind: mjpeg
      maxWorkers: {workers}
      attributes:
        url: {url}
        reconnectDelay: 100ms
        maxReconnectDelay: 500ms{sink}
"""


def start_function(
    workdir: Path, yaml_text: str, health: int, cpus: str | None
) -> subprocess.Popen[bytes]:
    path = workdir / f"function-{health}.yaml"
    path.write_text(yaml_text)
    cmd = [str(BIN / "dh-serverless"), "run", str(path), "--health-port", str(health)]
    cmd += ["--log-level", "warning"]
    proc = subprocess.Popen(
        pinned(cpus, cmd), cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_for(health)
    return proc


def scrape(health: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{health}/metrics", timeout=10).read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        m = re.match(r"(dh_mjpeg_frames_\w+|dh_sink_dropped_total)(\{[^}]*\})? ([\d.e+-]+)$", line)
        if m:
            reason = re.search(r'reason="(\w+)"', m.group(2) or "")
            key = m.group(1) + (f":{reason.group(1)}" if reason else "")
            out[key] = out.get(key, 0.0) + float(m.group(3))
    return out


def wait_frames(health: int, key: str = "dh_mjpeg_frames_received_total", count: int = 1) -> None:
    """Until the function counted ``count`` frames (a loaded machine starts things late)."""
    deadline = time.monotonic() + 30
    while scrape(health).get(key, 0) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{key} did not reach {count} in 30 s")
        time.sleep(0.1)


def window(
    proc: subprocess.Popen[bytes], health: int, warmup: float, duration: float, ready: int = 1
) -> dict:
    """Counter deltas, seconds and CPU seconds of the function over ``duration``, once
    ``ready`` frames were handled and ``warmup`` passed."""
    wait_frames(health, "dh_mjpeg_frames_processed_total", ready)
    time.sleep(warmup)
    before, cpu0, t0 = scrape(health), cpu_seconds(proc.pid), time.monotonic()
    time.sleep(duration)
    after, cpu1, t1 = scrape(health), cpu_seconds(proc.pid), time.monotonic()
    delta = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    return {"delta": delta, "seconds": t1 - t0, "cpu": cpu1 - cpu0}


# ---------------------------------------------------------------------------
# 1. ingest
# ---------------------------------------------------------------------------


def firehose(clip: Path, port: int) -> subprocess.Popen[bytes]:
    """source.py sending the clip as fast as the reader takes it, pinned to the load CPU."""
    proc = subprocess.Popen(
        pinned(LOAD_CPU, [PY, str(HERE / "source.py"), str(clip), "--port", str(port),
                          "--fps", "0"]),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_for(port)
    return proc


def ingest_plain(clip: Path, duration: float, warmup: float) -> dict:
    port = free_port()
    source = firehose(clip, port)
    try:
        out = subprocess.run(
            pinned(SERVER_CPU, [PY, str(HERE / "plain_reader.py"), f"http://127.0.0.1:{port}/",
                                "--duration", str(duration), "--warmup", str(warmup)]),
            capture_output=True, text=True, check=True, timeout=duration + warmup + 60,
        ).stdout  # fmt: skip
    finally:
        stop(source)
    r = json.loads(out)
    return {
        "fps": r["frames"] / r["seconds"],
        "cpu_ms": 1000 * r["cpu"] / max(r["frames"], 1),
        "busy": r["cpu"] / r["seconds"],
    }


def ingest_trigger(clip: Path, workdir: Path, duration: float, warmup: float) -> dict:
    port, health = free_port(), free_port()
    source = firehose(clip, port)
    proc = start_function(
        workdir, function_yaml("identity", f"http://127.0.0.1:{port}/", 1), health, SERVER_CPU
    )
    try:
        w = window(proc, health, warmup, duration)
    finally:
        stop(proc)
        stop(source)
    d = w["delta"]
    handled = d.get("dh_mjpeg_frames_processed_total", 0.0)
    return {
        "read_fps": d.get("dh_mjpeg_frames_received_total", 0.0) / w["seconds"],
        "fps": handled / w["seconds"],
        "cpu_ms": 1000 * w["cpu"] / max(handled, 1),
        "busy": w["cpu"] / w["seconds"],
    }


# ---------------------------------------------------------------------------
# 2. latency
# ---------------------------------------------------------------------------


def view(url: str, duration: float, warmup: float) -> dict:
    out = subprocess.run(
        pinned(LOAD_CPU, [PY, str(HERE / "viewer.py"), url, "--duration", str(duration),
                          "--warmup", str(warmup)]),
        capture_output=True, text=True, check=True, timeout=duration + warmup + 60,
    ).stdout  # fmt: skip
    return dict(json.loads(out))


def latency(clip: Path, workdir: Path, duration: float, warmup: float) -> dict:
    port = free_port()
    source = subprocess.Popen(
        pinned(LOAD_CPU, [PY, str(HERE / "source.py"), str(clip), "--port", str(port),
                          "--fps", "30"]),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(port)
        direct = view(f"http://127.0.0.1:{port}/", duration, warmup)
        sink, health = free_port(), free_port()
        yaml_text = function_yaml("identity", f"http://127.0.0.1:{port}/", 1, sink_port=sink)
        proc = start_function(workdir, yaml_text, health, SERVER_CPU)
        try:
            wait_for(sink)
            wait_frames(health)
            cpu0 = cpu_seconds(proc.pid)
            through = view(f"http://127.0.0.1:{sink}/stream", duration, warmup)
            cpu = cpu_seconds(proc.pid) - cpu0
            counters = scrape(health)
        finally:
            stop(proc)
    finally:
        stop(source)
    sent = through["last"] - through["first"] + 1
    dropped = sum(v for k, v in counters.items() if "dropped" in k and not k.endswith("sampled"))
    return {
        "direct": direct,
        "through": through,
        "missing": sent - through["frames"],
        "dropped": dropped,
        "cpu_ms": 1000 * cpu / max(through["frames"], 1),
    }


# ---------------------------------------------------------------------------
# 3. process workers
# ---------------------------------------------------------------------------


def scaling(clip: Path, workdir: Path, workers: int, duration: float, warmup: float) -> dict:
    port, health = free_port(), free_port()
    source = ffmpeg_push(clip, port, cpus=None, readrate=4)  # 120 fps: more than 2 workers take
    yaml_text = function_yaml("heavy", f"http://127.0.0.1:{port}/", workers, kind="process")
    proc = start_function(workdir, yaml_text, health, None)
    try:
        w = window(proc, health, warmup, duration, ready=2 * workers)
    finally:
        stop(proc)
        stop(source)
    handled = w["delta"].get("dh_mjpeg_frames_processed_total", 0.0)
    return {
        "fps": handled / w["seconds"],
        "cpu_ms": 1000 * w["cpu"] / max(handled, 1),
        "busy": w["cpu"] / w["seconds"],
    }


def latency_rows(
    clip: Path, workdir: Path, duration: float, warmup: float, rounds: int
) -> list[str]:
    lat = min(
        (latency(clip, workdir, duration, warmup) for _ in range(rounds)),
        key=lambda x: x["through"]["p50"],
    )
    added = lat["through"]["p50"] - lat["direct"]["p50"]
    return [
        f"| 720p30 source -> viewer, direct (floor) | p50 {lat['direct']['p50']:.1f} ms, "
        f"p99 {lat['direct']['p99']:.1f} ms | - | - | - |",
        f"| 720p30 source -> mjpeg trigger -> mjpeg sink -> viewer | "
        f"p50 {lat['through']['p50']:.1f} ms (+{added:.1f} ms), "
        f"p99 {lat['through']['p99']:.1f} ms; {lat['through']['frames']} frames, "
        f"{lat['missing']} missing, {lat['dropped']:.0f} dropped | {lat['cpu_ms']:.2f} ms "
        "| - | - |",
    ]


def scaling_rows(
    clip: Path, workdir: Path, duration: float, warmup: float, rounds: int
) -> list[str]:
    runs: dict[int, list[dict]] = {1: [], 2: []}
    for _ in range(rounds):  # alternate, so both see the same machine
        for n in (1, 2):
            runs[n].append(scaling(clip, workdir, n, duration, warmup))
    one, two = (median_by(runs[n], "fps") for n in (1, 2))
    ratios = sorted(b["fps"] / max(a["fps"], 1e-9) for a, b in zip(runs[1], runs[2], strict=True))
    return [
        f"| heavy handler, 1 process worker | {one['fps']:.1f} fps | {one['cpu_ms']:.1f} ms "
        f"| {one['busy']:.2f} | 1.00x |",
        f"| heavy handler, 2 process workers | {two['fps']:.1f} fps | {two['cpu_ms']:.1f} ms "
        f"| {two['busy']:.2f} | {statistics.median(ratios):.2f}x |",
    ]


def median_by(runs: list[dict], key: str) -> dict:
    return sorted(runs, key=lambda r: r[key])[len(runs) // 2]


def ingest_rows(clip: Path, size: str, workdir: Path, duration: float, warmup: float,
                rounds: int) -> list[str]:  # fmt: skip
    plain: list[dict] = []
    trig: list[dict] = []
    for r in range(rounds):  # alternate, so both see the same machine
        plain.append(ingest_plain(clip, duration, warmup))
        trig.append(ingest_trigger(clip, workdir, duration, warmup))
        print(f"round {r + 1} ingest {size}: plain {plain[-1]['fps']:.0f} fps, trigger "
              f"{trig[-1]['fps']:.0f} fps handled", file=sys.stderr)  # fmt: skip
    pairs = list(zip(plain, trig, strict=True))
    rate = statistics.median(t["fps"] / max(p["fps"], 1e-9) for p, t in pairs)
    cpu = statistics.median(p["cpu_ms"] / max(t["cpu_ms"], 1e-9) for p, t in pairs)
    p, t = median_by(plain, "fps"), median_by(trig, "fps")
    return [
        f"| ingest {size}: plain read + split (floor) | {p['fps']:.0f} fps "
        f"| {p['cpu_ms']:.3f} ms | {p['busy']:.2f} | 1.00x |",
        f"| ingest {size}: mjpeg trigger, identity handler | {t['fps']:.0f} fps handled "
        f"({t['read_fps']:.0f} read) | {t['cpu_ms']:.3f} ms | {t['busy']:.2f} "
        f"| {rate:.2f}x rate, {cpu:.2f}x CPU |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="tiny run: the figures mean nothing")
    parser.add_argument("--cases", default="ingest,latency,scaling", help="which parts to run")
    args = parser.parse_args()
    if not shutil.which("ffmpeg"):
        sys.exit("ffmpeg is not installed: apt-get install ffmpeg")
    duration, warmup = (0.5, 0.3) if args.smoke else (args.duration, 1.0)
    rounds = 1 if args.smoke else args.rounds
    cases = args.cases.split(",")
    rows: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        shutil.copy(HERE / "handlers.py", workdir / "handlers.py")
        count = 30 if args.smoke else 150
        clips = {s: make_clip(workdir, s, count) for s in ("640x480", "1280x720")}
        if "ingest" in cases:
            for size, clip in clips.items():
                rows += ingest_rows(clip, size, workdir, duration, warmup, rounds)
        if "latency" in cases:
            rows += latency_rows(clips["1280x720"], workdir, duration, warmup, rounds)
        if "scaling" in cases:
            rows += scaling_rows(clips["640x480"], workdir, duration, warmup, rounds)

    print(
        f"\nbench/mjpeg: {duration:g} s windows after {warmup:g} s warm-up, {rounds} "
        f"alternating round(s), medians (latency: the round with the best p50); "
        f"server on CPU {SERVER_CPU}, source and viewer on CPU {LOAD_CPU} (scaling "
        f"rows unpinned); Python {sys.version.split()[0]}, uvloop, {os.cpu_count()} CPUs\n"
    )
    print("| case | rate / latency | server CPU per frame | CPUs busy | ratio |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
