"""Our identity model for the benchmark: the fast path (``tensors: numpy``), on the loop."""


async def handler(context, event):
    return {"OUTPUT0": event.body["INPUT0"]}
