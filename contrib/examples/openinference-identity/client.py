"""Call the identity model with tritonclient: REST binary, REST JSON, gRPC.

    python client.py [--http 127.0.0.1:8080] [--grpc 127.0.0.1:9000]

Exits 0 when every answer equals what was sent.
"""

import argparse
import sys

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", default="127.0.0.1:8080")
    parser.add_argument("--grpc", default="127.0.0.1:9000")
    parser.add_argument("--model", default="identity")
    args = parser.parse_args()
    x = np.arange(32, dtype=np.float32).reshape(2, 16)
    failures = 0

    rest = httpclient.InferenceServerClient(args.http)
    print("REST live:", rest.is_server_live(), "model ready:", rest.is_model_ready(args.model))
    for binary in (True, False):
        item = httpclient.InferInput("INPUT0", list(x.shape), "FP32")
        item.set_data_from_numpy(x, binary_data=binary)
        wanted = httpclient.InferRequestedOutput("OUTPUT0", binary_data=binary)
        result = rest.infer(args.model, [item], outputs=[wanted], request_id="rest-1")
        same = np.array_equal(result.as_numpy("OUTPUT0"), x)
        failures += not same
        print(f"REST {'binary' if binary else 'JSON'}: OUTPUT0 == INPUT0: {same}")

    grpc = grpcclient.InferenceServerClient(args.grpc)
    item = grpcclient.InferInput("INPUT0", list(x.shape), "FP32")
    item.set_data_from_numpy(x)
    result = grpc.infer(args.model, [item], request_id="grpc-1")
    same = np.array_equal(result.as_numpy("OUTPUT0"), x)
    failures += not same
    print(f"gRPC: OUTPUT0 == INPUT0: {same} (id {result.get_response().id})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
