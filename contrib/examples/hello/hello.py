"""Greets the name POSTed as the body, or the world on GET (the original's integration example)."""


def handler(context, event):
    body = event.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    name = str(body).strip() if body else "world"
    context.logger.info_with("Greeting", name=name, method=event.method)
    return f"Hello, {name}!"
