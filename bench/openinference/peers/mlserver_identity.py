"""The identity model for MLServer (runs in its own venv, see tools/peers.py)."""

from mlserver import MLModel
from mlserver.types import InferenceRequest, InferenceResponse, ResponseOutput


class Identity(MLModel):
    async def load(self) -> bool:
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        return InferenceResponse(
            model_name=self.name,
            id=payload.id,
            outputs=[
                ResponseOutput(name="OUTPUT0", shape=i.shape, datatype=i.datatype, data=i.data)
                for i in payload.inputs
            ],
        )
