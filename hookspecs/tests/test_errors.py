"""DispatchError: each runtime answer carries its HTTP status, gRPC status, outcome and text."""

from __future__ import annotations

import pytest

from dh_serverless.hookspecs import (
    DispatchError,
    EventTimeoutError,
    ShuttingDownError,
    WorkerBusyError,
    WorkerLostError,
)


@pytest.mark.parametrize(
    ("error", "http", "grpc", "outcome", "message"),
    [
        (WorkerBusyError, 503, "RESOURCE_EXHAUSTED", "busy", "no worker available"),
        (ShuttingDownError, 503, "UNAVAILABLE", "shutdown", "shutting down"),
        (EventTimeoutError, 504, "DEADLINE_EXCEEDED", "timeout", "handler timed out"),
        (WorkerLostError, 500, "INTERNAL", "lost", "worker lost while handling the event"),
        (DispatchError, 500, "INTERNAL", "error", "dispatch failed"),
    ],
)
def test_one_table_from_error_to_every_protocol(error, http, grpc, outcome, message):
    err = error()
    assert (err.status_code, err.grpc_status, err.outcome, err.message) == (
        http,
        grpc,
        outcome,
        message,
    )
    assert error("said so").message == "said so"


def test_a_subclass_is_answered_as_its_parent():
    class PoolDrained(WorkerBusyError):
        pass

    assert (PoolDrained().status_code, PoolDrained().outcome) == (503, "busy")
