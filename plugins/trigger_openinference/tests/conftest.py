"""Fixtures of the openinference tests; helpers live in ``oi_support``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from oi_support import FUNCTIONS, Server, function_yaml, oi_trigger, serve

from dh_serverless.testing import free_port

# Handlers the servers import; not test modules.
collect_ignore_glob = ["functions/*"]


@pytest.fixture(scope="module")
def identity_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``identity`` (any inputs, numpy) and ``declared`` (INPUT0 FP32 [-1, 16]) models."""
    rest, grpc, rest2, grpc2 = (free_port() for _ in range(4))
    config = function_yaml(
        "oi_handlers:identity",
        {
            "any": oi_trigger("identity", rest, grpc, tensors="numpy", maxWorkers=4),
            "declared": oi_trigger(
                "declared",
                rest2,
                grpc2,
                tensors="numpy",
                model_version="3",
                input_tensors=[
                    {"name": "INPUT0", "datatype": "FP32", "shape": [-1, 16]},
                    {"name": "INPUT1", "datatype": "INT64", "shape": [-1]},
                ],
                output_tensors=[
                    {"name": "OUTPUT0", "datatype": "FP32", "shape": [-1, 16]},
                    {"name": "OUTPUT1", "datatype": "INT64", "shape": [-1]},
                ],
            ),
        },
    )
    with serve(
        tmp_path_factory.mktemp("identity"),
        config,
        [FUNCTIONS / "oi_handlers.py"],
        ports={"rest": rest, "grpc": grpc, "rest2": rest2, "grpc2": grpc2},
    ) as server:
        yield server
