"""A viewer that measures each frame's age: now minus the send time stamped by source.py.

python viewer.py URL --duration 5      # prints JSON: frames, first/last seq, p50/p99 ms
"""

import argparse
import asyncio
import json
import re
import statistics
import time

import aiohttp
import uvloop

_STAMP = re.compile(rb"\xff\xfe..t=([\d.]+);n=(\d+)", re.DOTALL)


async def view(url: str, duration: float, warmup: float) -> dict:
    ages, seqs = [], []
    async with aiohttp.ClientSession() as s:
        for _ in range(100):
            try:
                resp = await s.get(url)
                break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.1)
        reader = resp.content
        t0 = time.monotonic()
        while time.monotonic() - t0 < warmup + duration:
            line = await reader.readline()
            if not line.startswith(b"--"):
                continue
            size = 0
            while (line := (await reader.readline()).strip()) != b"":
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    size = int(value)
            jpeg = await reader.readexactly(size)
            now = time.time()
            if time.monotonic() - t0 < warmup:
                continue
            match = _STAMP.match(jpeg, 2)
            if match:
                ages.append((now - float(match.group(1))) * 1000)
                seqs.append(int(match.group(2)))
        resp.close()
    ages.sort()
    return {
        "frames": len(ages),
        "first": seqs[0] if seqs else 0,
        "last": seqs[-1] if seqs else 0,
        "p50": statistics.median(ages) if ages else 0.0,
        "p99": ages[int(len(ages) * 0.99)] if ages else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    args = parser.parse_args()
    print(json.dumps(uvloop.run(view(args.url, args.duration, args.warmup))))


if __name__ == "__main__":
    main()
