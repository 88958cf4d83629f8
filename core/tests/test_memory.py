"""A serving process keeps freed memory for the next request instead of faulting it in again."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from dh_serverless.core.memory import keep_freed_memory

from .test_runtime import spec

pytestmark = pytest.mark.timeout(60)

glibc = pytest.mark.skipif(
    not hasattr(os, "confstr") or "CS_GNU_LIBC_VERSION" not in os.confstr_names,
    reason="glibc's malloc only",
)

# A request's life with a [1,3,224,224] FP32 tensor: the body read, a copy, the answer.
_REQUESTS = textwrap.dedent(
    """
    import resource, sys
    from dh_serverless.core.memory import keep_freed_memory
    if sys.argv[1] == "tuned":
        assert keep_freed_memory()
    def request():
        body = bytearray(602_112)
        copy = bytes(body)
        answer = b"".join([b"{}", copy])
        return len(answer)
    for _ in range(20):
        request()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(200):
        request()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    """
)


def _faults(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.pop("GLIBC_TUNABLES", None)
    out = subprocess.run(
        [sys.executable, "-c", _REQUESTS, mode], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    return int(out.stdout)


@glibc
def test_large_buffers_stop_faulting_in_once_freed_memory_is_kept():
    # 200 requests of three 600 KB buffers: ~150 faults each per request by default.
    assert _faults("default") > 200 * 100
    assert _faults("tuned") < 200


@glibc
def test_the_users_own_malloc_settings_win():
    assert keep_freed_memory({"MALLOC_TRIM_THRESHOLD_": "1000000"}) is False
    assert keep_freed_memory({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1"}) is False


_HANDLER = "def handler(context, event):\n    return 'ok'\n"


async def test_a_serving_function_keeps_freed_memory(function_dir, runtime_for, monkeypatch):
    import dh_serverless.core.runtime as runtime

    kept: list[bool] = []
    monkeypatch.setattr(runtime, "keep_freed_memory", lambda: kept.append(True) or True)
    await runtime_for(function_dir(_HANDLER, spec()))
    assert kept == [True]


async def test_a_job_leaves_malloc_as_it_is(function_dir, runtime_for, monkeypatch):
    import dh_serverless.core.runtime as runtime

    kept: list[bool] = []
    monkeypatch.setattr(runtime, "keep_freed_memory", lambda: kept.append(True) or True)
    job = spec(attributes="{event: {body: hi}}").replace("kind: direct", "kind: job")
    await runtime_for(function_dir(_HANDLER, job))
    assert kept == []
