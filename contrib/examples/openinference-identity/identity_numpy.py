"""Identity model, fast path (``tensors: numpy`` in function.yaml).

``event.body`` is a ``dh_serverless.triggers.openinference.InferenceRequest``: its
``inputs`` map each input name to a numpy array (a read-only view of the bytes received,
no copy). Return numpy arrays: here one per declared output, in declared order; a dict
``{"OUTPUT0": array}`` works too. The trigger sends them back as binary (REST) or raw
(gRPC) tensors without ever turning them into Python lists.
"""


def handler(context, event):
    return [event.body["INPUT0"]]
