"""The handler both sinks' benchmarks run: the posted frame back, as ``image/jpeg``."""


async def handler(context, event):
    return context.Response(body=event.body, content_type="image/jpeg")
