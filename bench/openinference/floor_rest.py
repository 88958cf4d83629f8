"""The REST floor: a bare aiohttp + orjson + uvloop identity server doing the protocol's
real work (parse JSON or the binary extension, numpy arrays of the declared dtype and
shape, encode the answer the way it was asked for). No dh-serverless code.

    python floor_rest.py PORT
"""

import asyncio
import sys

import numpy as np
import orjson
import uvloop
from aiohttp import web

_JSON = {"Content-Type": "application/json"}


async def infer(request: web.BaseRequest) -> web.Response:
    body = await request.read()
    header = request.headers.get("Inference-Header-Content-Length")
    length = len(body) if header is None else int(header)
    doc = orjson.loads(body[:length])
    offset = length
    outputs, chunks = [], []
    binary_out = bool(doc.get("parameters", {}).get("binary_data_output"))
    for item in doc["inputs"]:
        size = item.get("parameters", {}).get("binary_data_size")
        if size is None:
            array = np.asarray(item["data"], dtype=np.float32).reshape(item["shape"])
        else:
            array = np.frombuffer(body, np.float32, size // 4, offset).reshape(item["shape"])
            offset += size
        out = {"name": "OUTPUT0", "datatype": "FP32", "shape": list(array.shape)}
        if binary_out:
            raw = array.tobytes()
            out["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            out["data"] = array.reshape(-1)
        outputs.append(out)
    head = orjson.dumps(
        {"model_name": "identity", "outputs": outputs}, option=orjson.OPT_SERIALIZE_NUMPY
    )
    if not chunks:
        return web.Response(body=head, headers=_JSON)
    return web.Response(
        body=b"".join([head, *chunks]),
        headers={
            "Content-Type": "application/octet-stream",
            "Inference-Header-Content-Length": str(len(head)),
        },
    )


async def main(port: int) -> None:
    server = web.Server(infer, access_log=None)
    await asyncio.get_running_loop().create_server(server, "127.0.0.1", port, backlog=1024)
    await asyncio.Event().wait()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))
