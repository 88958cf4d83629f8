"""The function the trigger runs: the same work as the bare echo (text back as text, a
binary window answered with its length)."""


async def echo(context, event):
    if event.fields.get("message_type") == "text":
        return event.body
    return str(len(event.body))
