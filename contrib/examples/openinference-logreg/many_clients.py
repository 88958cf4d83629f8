"""Classify held-out points one request per point, many at once, over REST and gRPC.

    python many_clients.py [--http 127.0.0.1:8080] [--grpc 127.0.0.1:9000]
        [--metrics 127.0.0.1:8082] [--points 500] [--concurrency 64]

Against ``function-batched.yaml`` the server gathers the concurrent requests into batches;
each client still gets exactly its own answer. Prints the accuracy, whether every answer
matches the model computed in this process, and the rows per handler call from /metrics.
Exits 0 when the answers match and the accuracy is at least 0.9.
"""

import argparse
import asyncio
import re
import sys
import urllib.request

import numpy as np
import tritonclient.grpc.aio as grpcaio
import tritonclient.http.aio as httpaio
from model import fit, make_data


async def classify(args, features):
    """Each point in its own request, ``concurrency`` in flight; labels and probabilities."""
    rest = httpaio.InferenceServerClient(args.http, conn_limit=args.concurrency)
    grpc = grpcaio.InferenceServerClient(args.grpc)
    limit = asyncio.Semaphore(args.concurrency)

    async def one(index):
        x = features[index : index + 1]
        async with limit:
            if index % 2:
                item = httpaio.InferInput("features", list(x.shape), "FP32")
                item.set_data_from_numpy(x)
                result = await rest.infer("classifier", [item])
            else:
                item = grpcaio.InferInput("features", list(x.shape), "FP32")
                item.set_data_from_numpy(x)
                result = await grpc.infer("classifier", [item])
        return result.as_numpy("label")[0], result.as_numpy("probability")[0]

    try:
        answers = await asyncio.gather(*(one(i) for i in range(len(features))))
    finally:
        await rest.close()
        await grpc.close()
    labels = np.array([label for label, _ in answers])
    return labels, np.array([p for _, p in answers], dtype=np.float32)


def classify_here(features):
    """The model computed in this process (trained as the server trains it)."""
    weights, bias = fit(*make_data(4000, seed=0))
    probability = 1.0 / (1.0 + np.exp(-(features @ weights + bias)))
    return (probability >= 0.5).astype(np.int64), probability.astype(np.float32)


def average_batch(url):
    """Rows per handler call so far, from ``dh_openinference_batch_size`` on /metrics."""
    with urllib.request.urlopen(f"http://{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    parts = {}
    for part in ("sum", "count"):
        found = re.search(rf"^dh_openinference_batch_size_{part}\{{.*\}} (\S+)$", text, re.M)
        parts[part] = float(found.group(1)) if found else 0.0
    return parts["sum"] / parts["count"] if parts["count"] else 0.0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", default="127.0.0.1:8080")
    parser.add_argument("--grpc", default="127.0.0.1:9000")
    parser.add_argument("--metrics", default="127.0.0.1:8082")
    parser.add_argument("--points", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    features, truth = make_data(args.points, seed=1)  # not the training data
    labels, probability = asyncio.run(classify(args, features))
    here_labels, here_probability = classify_here(features)
    same = bool(
        np.array_equal(labels, here_labels)
        and np.allclose(probability, here_probability, rtol=1e-5, atol=1e-6)
    )
    accuracy = float((labels == truth).mean())
    print(f"{args.points} requests, {args.concurrency} at a time, REST and gRPC")
    print(f"accuracy on {args.points} held-out points: {accuracy:.3f}")
    print(f"each answer matches the model computed here: {same}")
    print(f"rows per handler call on the server: {average_batch(args.metrics):.1f}")
    return 0 if same and accuracy >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
