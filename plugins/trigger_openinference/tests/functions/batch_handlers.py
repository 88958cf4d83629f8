"""Batched handlers the batching tests serve (``tensors: numpy`` unless named otherwise).

Each answers, per row: ``OUTPUT0 = INPUT0 * 2 + 1`` and ``REQUESTS`` = how many requests
its batch held, so a client checks its own rows and sees that batching happened.
"""

import asyncio
import time

import numpy as np


def _answer(body, x):
    batch = body.batch
    assert x.shape[0] == batch.size, (x.shape, batch)
    assert sum(batch.rows) == batch.size
    assert len(batch.ids) == len(batch.rows)
    requests = np.full((batch.size, 1), len(batch), dtype=np.int32)
    return {"OUTPUT0": x * 2 + 1, "REQUESTS": requests}


def _misbehave(body, x):
    """``INPUT0[..., 0] == -1`` in any row: raise; ``-2``: one row too few."""
    flat = x.reshape(x.shape[0], -1)
    if flat.size and (flat[:, 0] == -1).any():
        raise ValueError("poisoned row in this batch")
    if flat.size and (flat[:, 0] == -2).any():
        short = x.shape[0] - 1
        return {"OUTPUT0": x[:-1] * 2 + 1, "REQUESTS": np.zeros((short, 1), dtype=np.int32)}
    return None


async def slow_async(context, event):
    """On the loop; sleeps ``parameters.seconds`` (default 0.05) per batch."""
    body = event.body
    x = body["INPUT0"]
    bad = _misbehave(body, x)
    if bad is not None:
        return bad
    await asyncio.sleep(float(body.parameters.get("seconds", 0.05)))
    return _answer(body, x)


def slow_sync(context, event):
    """On a worker thread or process; sleeps 0.05 s per batch."""
    body = event.body
    x = body["INPUT0"]
    bad = _misbehave(body, x)
    if bad is not None:
        return bad
    time.sleep(0.05)
    return _answer(body, x)


def lists(context, event):
    """``tensors: lists``: the batch travels as ``body["batch"]``."""
    body = event.body
    batch = body["batch"]
    data = body["inputs"][0]["data"]
    assert len(data) == batch["size"] * 4, (len(data), batch)
    time.sleep(0.05)
    return {
        "outputs": [
            {
                "name": "OUTPUT0",
                "datatype": "FP32",
                "shape": [batch["size"], 4],
                "data": [v * 2 + 1 for v in data],
            },
            {
                "name": "REQUESTS",
                "datatype": "INT32",
                "shape": [batch["size"], 1],
                "data": [len(batch["rows"])] * batch["size"],
            },
        ]
    }
