"""The function under test: the same echo, as an async and as a plain (threaded) handler."""


async def handler(context, event):
    return event.body


def sync_handler(context, event):
    return event.body
