"""Handlers the tests serve (``tensors: numpy`` unless named otherwise)."""

import asyncio


def _output_name(name):
    return "OUTPUT" + name[5:] if name.startswith("INPUT") else name


def identity(context, event):
    """Every input back as an output (INPUTn -> OUTPUTn), with its parameters, and the
    request's parameters echoed."""
    request = event.body
    outputs = [
        {
            "name": _output_name(name),
            "data": array,
            "parameters": request.input_parameters.get(name),
        }
        for name, array in request.inputs.items()
    ]
    return {"outputs": outputs, "parameters": request.parameters}


async def misbehave(context, event):
    """Identity, unless ``parameters.mode`` says: raise, sleep, or answer badly."""
    request = event.body
    mode = request.parameters.get("mode")
    if mode == "raise":
        raise ValueError("boom: the model cannot take this input")
    if mode == "sleep":
        await asyncio.sleep(float(request.parameters.get("seconds", 1)))
    if mode == "status":
        return context.Response(
            body={"error": "the model refuses"}, status_code=int(request.parameters["status"])
        )
    if mode == "garbage":
        return object()
    if mode == "wrong_shape":
        return {"OUTPUT0": request["INPUT0"].reshape(-1)}
    return [request[name] for name in request]
