"""The gRPC floor: a bare grpc.aio + uvloop identity ``ModelInfer`` (raw contents in and
out, numpy arrays of the declared dtype and shape). Messages from the trigger's generated
module, which is plain protobuf; no other dh-serverless code.

    python floor_grpc.py PORT
"""

import asyncio
import os
import sys

import grpc
import numpy as np
import uvloop

from dh_serverless.triggers.openinference._generated import dh_openinference_pb2 as pb


async def model_infer(request, context):
    outputs, raws = [], []
    for tensor, raw in zip(request.inputs, request.raw_input_contents, strict=True):
        array = np.frombuffer(raw, dtype=np.float32).reshape(tuple(tensor.shape))
        outputs.append(
            pb.ModelInferResponse.InferOutputTensor(
                name="OUTPUT0", datatype="FP32", shape=array.shape
            )
        )
        raws.append(array.tobytes())
    return pb.ModelInferResponse(
        model_name=request.model_name, id=request.id, outputs=outputs, raw_output_contents=raws
    )


async def main(port: int) -> None:
    server = grpc.aio.server(
        options=[("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
    )
    handler = grpc.unary_unary_rpc_method_handler(
        model_infer,
        request_deserializer=pb.ModelInferRequest.FromString,
        response_serializer=pb.ModelInferResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "inference.GRPCInferenceService", {"ModelInfer": handler}
            ),
        )
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    if os.environ.get("FLOOR_LOOP") == "asyncio":
        asyncio.run(main(int(sys.argv[1])))
    else:
        uvloop.run(main(int(sys.argv[1])))
