"""The batching benchmark's model for MLServer (its own venv, see tools/peers.py), run with
adaptive batching (``max_batch_size``, ``max_batch_time`` in model-settings.json): MLServer
concatenates the requests' inputs along the first dimension and splits the outputs back."""

from matmul import predict
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse


class MatMul(MLModel):
    async def load(self) -> bool:
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        x = NumpyCodec.decode_input(payload.inputs[0])
        y = predict(x)
        return InferenceResponse(
            model_name=self.name, id=payload.id, outputs=[NumpyCodec.encode_output("OUTPUT0", y)]
        )
