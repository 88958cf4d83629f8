"""Identity model in the original's style (``tensors: lists``, the default).

``event.body`` reads like the parsed request dict: ``inputs`` is a list of
``{"name", "datatype", "shape", "data"}`` with ``data`` a flat row-major list. The answer
is the protocol's response form; the trigger encodes it for REST (JSON or binary) and gRPC.
"""


def handler(context, event):
    outputs = [
        {
            "name": tensor["name"].replace("INPUT", "OUTPUT"),
            "datatype": tensor["datatype"],
            "shape": tensor["shape"],
            "data": tensor["data"],
        }
        for tensor in event.body["inputs"]
    ]
    return {"id": event.body.get("id", ""), "outputs": outputs}
