"""The floor: a plain aiohttp loop that reads an MJPEG stream and splits it by
Content-Length, nothing else. Prints frames and seconds as JSON after ``--duration``.

    python plain_reader.py URL --duration 5
"""

import argparse
import json
import time

import aiohttp
import uvloop


async def read(url: str, duration: float, warmup: float) -> dict:
    frames = 0
    start = None
    cpu = 0.0
    async with aiohttp.ClientSession(read_bufsize=1 << 20) as s, s.get(url) as resp:
        buf = bytearray()
        t0 = time.monotonic()
        async for chunk in resp.content.iter_any():
            buf += chunk
            while True:
                head = buf.find(b"\r\n\r\n")
                if head < 0:
                    break
                i = buf.find(b"ength:", 0, head)
                size = int(buf[i + 6 : buf.find(b"\r\n", i)])
                if len(buf) < head + 4 + size:
                    break
                frame = bytes(buf[head + 4 : head + 4 + size])
                del buf[: head + 4 + size]
                if frame[:2] == b"\xff\xd8":
                    frames += 1
            now = time.monotonic()
            if start is None and now - t0 >= warmup:
                start, frames, cpu = now, 0, time.process_time()
            if start is not None and now - start >= duration:
                return {"frames": frames, "seconds": now - start, "cpu": time.process_time() - cpu}
    return {"frames": frames, "seconds": time.monotonic() - (start or t0), "cpu": 0.0}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    args = parser.parse_args()
    print(json.dumps(uvloop.run(read(args.url, args.duration, args.warmup))))


if __name__ == "__main__":
    main()
