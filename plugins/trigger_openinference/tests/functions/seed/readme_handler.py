"""The handler of the seed README's "Handler Function" section, as written there; only its
placeholder (``# ... your model inference code ...``) is filled in."""

import json


def handler(context, event):
    # Parse input tensors from event.body
    request = json.loads(event.body)
    inputs = request["inputs"]

    # Perform inference
    # ... your model inference code ...
    output_data = [float(sum(inputs[0]["data"]))] * 1000

    # Return output tensors
    return context.Response(
        body=json.dumps({
            "model_name": request["model_name"],
            "model_version": request["model_version"],
            "outputs": [
                {
                    "name": "output",
                    "datatype": "FP32",
                    "shape": [1, 1000],
                    "data": output_data
                }
            ]
        }),
        headers={},
        content_type="application/json",
        status_code=200
    )
