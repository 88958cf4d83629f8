"""bench/rtsp: the rtsp sink's H.264 encode-and-send rate against the ffmpeg command line.

Three measurements in one run, the sink (bench/rtsp/serve.py) pinned to CPU 0 and every
ffmpeg viewer pinned to CPU 1:

1. Throughput: JPEG frames emitted back to back into the sink, one TCP viewer, at
   640x480 and 1280x720, against ``ffmpeg -f mjpeg -i frames -c:v libx264`` with the same
   x264 settings writing to ``-f null`` (the floor: decode + encode, nothing sent), also
   on CPU 0. Best of ``--rounds``.
2. 640x480 at 30 fps to three viewers (two TCP, one UDP) on one core: frames each viewer
   decoded, sink CPU use.
3. Glass to glass: each frame carries its number in a row of black and white blocks; an
   ffmpeg viewer decodes to raw grey pixels and the time from ``emit`` to the decoded
   frame on its stdout is measured.

    python bench/rtsp/run.py [--seconds 10] [--rounds 3] [--sizes 640x480,1280x720]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import simplejpeg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import pinned, stop

HERE = Path(__file__).resolve().parent
X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-bf", "0",
        "-g", "60", "-x264-params", "repeat-headers=1:bframes=0"]  # fmt: skip
BITS = 16


def picture(width: int, height: int, index: int, stamp: bool = False) -> np.ndarray:
    """A moving picture; with ``stamp``, ``index`` in 16 black/white blocks along the top."""
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack(
        [(x + index * 4) % 256, (y + index * 2) % 256, ((x + y) // 8 + index) % 256], axis=-1
    ).astype(np.uint8)
    if stamp:
        block = width // BITS
        for bit in range(BITS):
            image[: height // 8, bit * block : (bit + 1) * block] = 255 * ((index >> bit) & 1)
    return image


def write_frames(
    folder: Path, width: int, height: int, count: int, stamp: bool = False, joined: int = 0
) -> Path:
    """``count`` JPEG files, and ``all.mjpeg``: them again and again, ``joined`` frames."""
    folder.mkdir(parents=True, exist_ok=True)
    frames = []
    for index in range(count):
        data = simplejpeg.encode_jpeg(
            picture(width, height, index, stamp), quality=85, colorsubsampling="420"
        )
        (folder / f"{index:05d}.jpg").write_bytes(data)
        frames.append(data)
    with (folder / "all.mjpeg").open("wb") as out:
        for index in range(joined):
            out.write(frames[index % count])
    return folder


def _ffmpeg_encode(frames: Path, count: int) -> tuple[float, float]:
    cmd = pinned("0", ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
                       "-f", "mjpeg", "-framerate", "30",
                       "-i", str(frames / "all.mjpeg"), "-frames:v", str(count), *X264,
                       "-f", "null", "-"])  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, timeout=300)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def ffmpeg_floor(frames: Path, count: int) -> dict[str, float]:
    """The ffmpeg command line decoding the same JPEGs and encoding them to null, on CPU 0.

    Run for ``count`` and for ``2 * count`` frames: the difference is ``count`` frames
    without ffmpeg's start-up, as the sink's figure has no start-up either.
    """
    wall1, cpu1 = _ffmpeg_encode(frames, count)
    wall2, cpu2 = _ffmpeg_encode(frames, 2 * count)
    if wall2 < 1.2 * wall1:  # too short to tell start-up apart (a smoke run)
        return {"fps": 2 * count / wall2, "cpu_ms": 1000 * cpu2 / (2 * count)}
    return {"fps": count / (wall2 - wall1), "cpu_ms": 1000 * (cpu2 - cpu1) / count}


class Viewer:
    """One ffmpeg viewer pinned to CPU 1; ``frames`` decoded, read from its stats."""

    def __init__(self, url: str, transport: str, raw: bool = False) -> None:
        out = ["-f", "rawvideo", "-pix_fmt", "gray", "-"] if raw else ["-f", "null", "-"]
        # (-fflags nobuffer made ffmpeg 5.1 skip frames up to the second IDR: not used)
        low_delay = ["-probesize", "32", "-analyzeduration", "0"] if raw else []
        cmd = pinned("1", ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
                           "-stats", *low_delay, "-rtsp_transport", transport, "-i", url,
                           "-fps_mode", "passthrough", *out])  # fmt: skip
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE if raw else subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self.err = b""
        self._reader = threading.Thread(target=self._read_err, daemon=True)
        self._reader.start()

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        self.err = self.proc.stderr.read()

    @property
    def frames(self) -> int:
        counts = [int(p.split()[0]) for p in self.err.decode().split("frame=")[1:] if p.split()]
        return counts[-1] if counts else 0

    def stop(self) -> None:
        stop(self.proc, 5)
        self._reader.join(5)


def serve(
    frames: Path, count: int, fps: float, viewers: list[tuple[str, bool]]
) -> tuple[dict[str, float], list[Viewer]]:
    """Run serve.py on CPU 0 with these viewers (transport, raw); return its result."""
    server, url = start_server(frames, count, fps, len(viewers))
    started = [Viewer(url, transport, raw) for transport, raw in viewers]
    return server_result(server), started


def start_server(
    frames: Path, count: int, fps: float, viewers: int
) -> tuple[subprocess.Popen[str], str]:
    """serve.py on CPU 0, sending ``count`` frames at ``fps``; it and the URL it serves."""
    cmd = pinned("0", [sys.executable, str(HERE / "serve.py"), "--frames", str(frames),
                       "--count", str(count), "--fps", str(fps),
                       "--viewers", str(viewers)])  # fmt: skip
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    return server, server.stdout.readline().split()[1]


def server_result(server: subprocess.Popen[str]) -> dict[str, Any]:
    """What serve.py prints once it sent every frame; it is killed if it lingers."""
    assert server.stdout is not None
    try:
        result: dict[str, Any] = json.loads(server.stdout.readline())
        server.wait(30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    return result


def throughput(size: str, seconds: float, rounds: int, work: Path) -> dict[str, float]:
    width, height = map(int, size.split("x"))
    count = int(seconds * 60)
    frames = write_frames(work / size, width, height, 60, joined=2 * count)
    best: dict[str, float] = {}
    # Each figure is the best of its rounds (noise only ever slows a run down), taken apart:
    # the highest fps and the lowest CPU time per frame.
    for _ in range(rounds):
        floor = ffmpeg_floor(frames, count)
        best["ffmpeg_fps"] = max(best.get("ffmpeg_fps", 0), floor["fps"])
        best["ffmpeg_cpu_ms"] = min(best.get("ffmpeg_cpu_ms", 1e9), floor["cpu_ms"])
        result, viewers = serve(frames, count, 0, [("tcp", False)])
        for viewer in viewers:
            viewer.stop()
        best["sink_fps"] = max(best.get("sink_fps", 0), result["frames"] / result["wall"])
        cpu_ms = 1000 * result["cpu"] / result["frames"]
        best["sink_cpu_ms"] = min(best.get("sink_cpu_ms", 1e9), cpu_ms)
    return best


def three_viewers(seconds: float, work: Path) -> dict[str, float]:
    frames = write_frames(work / "640x480", 640, 480, 60)
    count = int(seconds * 30)
    result, viewers = serve(frames, count, 30, [("tcp", False), ("tcp", False), ("udp", False)])
    time.sleep(0.5)
    for viewer in viewers:
        viewer.stop()
    return {
        "sent_fps": result["frames"] / result["wall"],
        "cpu_share": result["cpu"] / result["wall"],
        "cpu_ms": 1000 * result["cpu"] / result["frames"],
        "decoded": min(v.frames for v in viewers) / result["wall"],
        "dropped": result["dropped"],
    }


def latency(seconds: float, work: Path) -> list[float]:
    count = int(seconds * 30)
    frames = write_frames(work / "stamped", 640, 480, count, stamp=True)
    delays: list[float] = []
    seen: dict[int, float] = {}

    def read(viewer: Viewer) -> None:
        assert viewer.proc.stdout is not None
        size = 640 * 480
        block = 640 // BITS
        while True:
            data = viewer.proc.stdout.read(size)
            if len(data) < size:
                return
            arrived = time.time()
            grey = np.frombuffer(data, np.uint8).reshape(480, 640)
            row = grey[20:40]
            index = sum(
                1 << bit
                for bit in range(BITS)
                if row[:, bit * block + 10 : (bit + 1) * block - 10].mean() > 128
            )
            seen.setdefault(index, arrived)

    server, url = start_server(frames, count, 30, 1)
    viewer = Viewer(url, "tcp", raw=True)
    reader = threading.Thread(target=read, args=(viewer,), daemon=True)
    reader.start()
    try:
        result = server_result(server)
    finally:
        viewer.stop()
        reader.join(5)
    for index, emitted in enumerate(result["stamps"]):
        if index in seen and index >= 30:  # the first second: the player starting
            delays.append(1000 * (seen[index] - emitted))
    return delays


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each part")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", default="640x480,1280x720")
    args = parser.parse_args()
    args.load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rows = {size: throughput(size, args.seconds / 2, args.rounds, work)
                for size in args.sizes.split(",")}  # fmt: skip
        fanout = three_viewers(args.seconds, work)
        delays = latency(args.seconds, work)
    report(args, rows, fanout, delays)


def report(
    args: argparse.Namespace,
    rows: dict[str, dict[str, float]],
    fanout: dict[str, float],
    delays: list[float],
) -> None:
    """Print the three tables and the configuration."""
    frames = args.seconds / 2 * 60
    print("## rtsp sink: H.264 encode + send vs the ffmpeg command line\n")
    print(
        f"Sink on CPU 0 (taskset), viewers on CPU 1, ffmpeg floor on CPU 0; best of "
        f"{args.rounds}; {frames:.0f} frames per size (ffmpeg: time of 2N frames less that of "
        "N, so no start-up); x264 ultrafast, zerolatency, no B-frames, GOP 60, "
        "repeat-headers; input JPEG q85 4:2:0; the sink has one TCP viewer. CPU ratio: "
        "ffmpeg's CPU time per frame over the sink's (steadier than fps on a shared machine).\n"
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"Load average before the run: {args.load}; after: {load} (2 CPUs shared).\n")
    print(
        "| size | sink fps | sink CPU ms/frame | ffmpeg fps | ffmpeg CPU ms/frame "
        "| fps ratio | CPU ratio |"
    )
    print("|---|---|---|---|---|---|---|")
    for size, r in rows.items():
        ratio = r["sink_fps"] / r["ffmpeg_fps"]
        cpu_ratio = r["ffmpeg_cpu_ms"] / r["sink_cpu_ms"]
        print(
            f"| {size} | {r['sink_fps']:.0f} | {r['sink_cpu_ms']:.2f} | {r['ffmpeg_fps']:.0f} "
            f"| {r['ffmpeg_cpu_ms']:.2f} | {ratio:.2f}x | {cpu_ratio:.2f}x |"
        )
    print("\n## 640x480 at 30 fps to three viewers (2 TCP, 1 UDP), the sink on one core\n")
    print("| sent fps | decoded fps (slowest viewer) | sink CPU | CPU ms/frame | dropped |")
    print("|---|---|---|---|---|")
    print(
        f"| {fanout['sent_fps']:.1f} | {fanout['decoded']:.1f} "
        f"| {100 * fanout['cpu_share']:.0f}% | {fanout['cpu_ms']:.2f} | {fanout['dropped']:.0f} |"
    )
    print("\n## Glass to glass: emit() to the decoded frame in an ffmpeg viewer, 640x480@30\n")
    if not delays:
        print("no frame reached the viewer")
        return
    delays = sorted(delays)
    p95 = delays[min(len(delays) - 1, int(0.95 * len(delays)))]
    print("| frames matched | median ms | p95 ms | max ms |")
    print("|---|---|---|---|")
    print(f"| {len(delays)} | {statistics.median(delays):.1f} | {p95:.1f} | {delays[-1]:.1f} |")


if __name__ == "__main__":
    main()
