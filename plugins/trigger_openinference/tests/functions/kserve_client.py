"""KServe's own inference clients (REST and gRPC) against our identity model.

Run with the python of the ``kserve`` peer venv: ``python kserve_client.py REST GRPC``.
Prints one line per check; exits non-zero on the first failure.
"""

import asyncio
import sys

import numpy as np
from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig


def request(binary: bool) -> InferRequest:
    x = np.arange(32, dtype=np.float32).reshape(2, 16)
    item = InferInput("INPUT0", [2, 16], "FP32")
    item.set_data_from_numpy(x, binary_data=binary)
    return InferRequest(model_name="identity", infer_inputs=[item], request_id="kserve-1"), x


async def main(rest: str, grpc: str) -> None:
    client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0))
    base = f"http://{rest}"
    print("rest ready:", await client.is_server_ready(base))
    print("rest model ready:", await client.is_model_ready(base, "identity"))
    for binary in (False, True):
        infer, x = request(binary)
        answer = await client.infer(base, infer, model_name="identity")
        same = np.array_equal(answer.outputs[0].as_numpy(), x)
        print(f"rest {'binary' if binary else 'json'}: {same} id={answer.id}")
    await client.close()
    grpc_client = InferenceGRPCClient(grpc, retries=0)
    infer, x = request(True)
    answer = await grpc_client.infer(infer)
    print(f"grpc: {np.array_equal(answer.outputs[0].as_numpy(), x)} id={answer.id}")
    print("grpc model ready:", await grpc_client.is_model_ready("identity"))
    await grpc_client.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
