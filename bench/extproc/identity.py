"""The trigger's side of the benchmark: a handler that changes nothing."""


async def handler(context, event):
    return None
