"""contrib/examples/mjpeg-edges, WebRTC variant, as its README runs it (ports changed to
free ones): ffmpeg's MJPEG camera, ``dh-serverless run function-webrtc.yaml``, an aiortc
WHEP viewer.

Run by ``test_example.py`` inside a network namespace of its own (see ``browser.py``);
prints one JSON line with what it saw.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from whep_client import whep_viewer

from dh_serverless.testing.processes import RunningFunction, free_port, stop_process

EXAMPLE = Path(__file__).resolve().parents[3] / "contrib" / "examples" / "mjpeg-edges"


async def main() -> None:
    camera, port = free_port(), free_port()
    result: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in ("edges.py", "function-webrtc.yaml"):
            shutil.copy(EXAMPLE / name, folder / name)
        config = (folder / "function-webrtc.yaml").read_text()
        assert "url: http://127.0.0.1:8081/" in config
        assert "port: 8889" in config
        config = config.replace("127.0.0.1:8081", f"127.0.0.1:{camera}")
        (folder / "function-webrtc.yaml").write_text(config.replace("port: 8889", f"port: {port}"))
        source = subprocess.Popen(  # noqa: ASYNC220 - stopped by PID below
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
             "testsrc=size=640x480:rate=30", "-t", "60", "-f", "mpjpeg", "-listen", "1",
             f"http://127.0.0.1:{camera}/"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            async with RunningFunction(folder / "function-webrtc.yaml") as function:
                await function.wait_ready()
                url = f"http://127.0.0.1:{port}/processed/whep"
                async with whep_viewer(url) as viewer:
                    frames = await viewer.frames(30, timeout=40)
                    result["viewers_metric"] = await function.metric("dh_webrtc_viewers")
                result["sizes"] = sorted({(f.width, f.height) for f in frames})
                last = frames[-1].to_ndarray(format="gray")
                result["mean"], result["max"] = float(last.mean()), int(last.max())
                result["encoded"] = await function.metric("dh_webrtc_frames_encoded_total")
                result["sent"] = await function.metric("dh_webrtc_frames_sent_total")
                result["exit"] = await function.terminate()
                result["log"] = function.log()[-3000:]
        finally:
            stop_process(source)
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
