"""The batching benchmark's model: ``OUTPUT0 = INPUT0 @ W`` (FP32 ``[n, 512]``, W 512x512),
after a fixed per-call step standing for a framework's own work (1 ms of CPU, spinning).

A call costs about the step plus a small cost per row, so a batch of 32 rows costs little
more than one row: what dynamic batching earns. Shared by our handler (``handler``) and the
MLServer model (``peers/mlserver_matmul.py``, which imports this file copied beside it).
Plain numpy, no randomness: both servers compute exactly the same thing.
"""

import time

import numpy as np

SIZE = 512
STEP_SECONDS = 0.001
#: deterministic weights, the same in every venv whatever its numpy
WEIGHTS = (((np.arange(SIZE * SIZE) % 251) - 125).reshape(SIZE, SIZE) / 2000.0).astype(np.float32)


def framework_step():
    """The fixed per-call cost: 1 ms of this thread's CPU time, spinning (holds the CPU and
    the GIL like real work; CPU time, not wall time, so a busy machine does not shrink it)."""
    end = time.thread_time() + STEP_SECONDS
    while time.thread_time() < end:
        pass


def predict(x):
    """The model: one framework step, then ``x @ WEIGHTS`` for every row of ``x``."""
    framework_step()
    return x @ WEIGHTS


async def handler(context, event):
    """dh-serverless (``tensors: numpy``): batched or not, rows in, as many rows out."""
    return {"OUTPUT0": predict(event.body["INPUT0"])}
