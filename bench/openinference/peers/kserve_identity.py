"""The identity model for KServe's ModelServer (its own venv, see tools/peers.py).

python kserve_identity.py HTTP_PORT GRPC_PORT
"""

import sys

from kserve import Model, ModelServer
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse


class Identity(Model):
    def __init__(self, name):
        super().__init__(name)
        self.ready = True

    async def predict(self, payload: InferRequest, headers=None, response_headers=None):
        outputs = []
        for item in payload.inputs:
            out = InferOutput(name="OUTPUT0", shape=item.shape, datatype=item.datatype)
            out.set_data_from_numpy(item.as_numpy(), binary_data=True)  # raw on gRPC
            outputs.append(out)
        return InferResponse(
            model_name=self.name,
            infer_outputs=outputs,
            response_id=payload.id or "",
            use_binary_outputs=payload.use_binary_outputs,
            requested_outputs=payload.request_outputs,
        )


if __name__ == "__main__":
    http_port, grpc_port = int(sys.argv[1]), int(sys.argv[2])
    ModelServer(http_port=http_port, grpc_port=grpc_port, workers=1).start([Identity("identity")])
