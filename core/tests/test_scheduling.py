"""Helper threads under SCHED_BATCH (dh_serverless.core.scheduling)."""

from __future__ import annotations

import os
import threading

import pytest

from dh_serverless.core.scheduling import batch_scheduling

pytestmark = pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux policies")


def policy_in_a_thread(action) -> tuple[object, int]:
    seen: list[tuple[object, int]] = []

    def run() -> None:
        seen.append((action(), os.sched_getscheduler(0)))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return seen[0]


def test_the_calling_thread_alone_turns_batch():
    assert policy_in_a_thread(batch_scheduling) == (True, os.SCHED_BATCH)
    assert os.sched_getscheduler(0) == os.SCHED_OTHER


def test_another_thread_turns_batch_by_its_native_id():
    ready, done = threading.Event(), threading.Event()
    thread = threading.Thread(target=lambda: (ready.set(), done.wait(5)))
    thread.start()
    ready.wait(5)
    try:
        assert thread.native_id is not None
        assert batch_scheduling(thread.native_id) is True
        assert os.sched_getscheduler(thread.native_id) == os.SCHED_BATCH
    finally:
        done.set()
        thread.join()


def test_a_thread_that_does_not_exist_changes_nothing():
    assert batch_scheduling(2**22 + 12345) is False  # above Linux's pid_max: no such thread
