"""Classify held-out points with tritonclient over REST and gRPC and report the accuracy.

    python client.py [--http 127.0.0.1:8080] [--grpc 127.0.0.1:9000] [--points 500]

Exits 0 when both protocols agree and the accuracy is at least 0.9.
"""

import argparse
import sys

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from model import make_data


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", default="127.0.0.1:8080")
    parser.add_argument("--grpc", default="127.0.0.1:9000")
    parser.add_argument("--points", type=int, default=500)
    args = parser.parse_args()
    features, labels = make_data(args.points, seed=1)  # not the training data

    rest = httpclient.InferenceServerClient(args.http)
    item = httpclient.InferInput("features", list(features.shape), "FP32")
    item.set_data_from_numpy(features)
    result = rest.infer("classifier", [item])
    rest_labels = result.as_numpy("label")
    probability = result.as_numpy("probability")

    grpc = grpcclient.InferenceServerClient(args.grpc)
    gitem = grpcclient.InferInput("features", list(features.shape), "FP32")
    gitem.set_data_from_numpy(features)
    grpc_labels = grpc.infer("classifier", [gitem]).as_numpy("label")

    accuracy = float((rest_labels == labels).mean())
    agree = bool(np.array_equal(rest_labels, grpc_labels))
    print(f"first points: p(class 1) = {np.round(probability[:4], 3).tolist()}")
    print(f"labels:       {rest_labels[:4].tolist()} (true: {labels[:4].tolist()})")
    print(f"accuracy on {args.points} held-out points: {accuracy:.3f}")
    print(f"REST and gRPC agree: {agree}")
    return 0 if agree and accuracy >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
