"""The lanes scan: which tests start processes, read from their code and what it calls."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

from dh_serverless.testing.lanes import Lanes, _code_only

CONFIG = "spec: {triggers: {t: {kind: test, workerKind: process}}}"


def _starts_directly() -> None:
    subprocess.run(["true"], check=True)


def _calls_a_helper() -> None:
    _starts_directly()


def _only_mentions_it() -> str:
    """Runs no subprocess; a string or comment may say so."""
    return "subprocess.run"  # subprocess.Popen


def _names_a_process_config() -> str:
    return CONFIG


def _decorated(function):  # type: ignore[no-untyped-def]
    @functools.wraps(function)
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        return function(*args, **kwargs)

    return wrapper


@_decorated
def _decorated_caller() -> None:
    _calls_a_helper()


class _Harness:
    def start(self) -> None:
        _starts_directly()


def _uses_a_class() -> None:
    _Harness().start()


def _in_process() -> int:
    return len(_only_mentions_it())


# Reached by name, so that these tests themselves stay in the in-process lane.
SAMPLES = {f.__name__: f for f in (_starts_directly, _calls_a_helper, _only_mentions_it,
    _names_a_process_config, _decorated_caller, _uses_a_class, _in_process)}  # fmt: skip


def test_code_only_empties_strings_and_comments_and_keeps_every_line() -> None:
    source = (
        'def f(x):\n    """doc: subprocess\n    here"""\n'
        "    a = 'it\\'s # no comment' + \"b\"  # subprocess\n"
        "    return rb'\\x00' + f\"{x}\"  # end\n"
    )
    code = _code_only(source)
    assert code.count("\n") == source.count("\n")
    assert "subprocess" not in code
    assert "comment" not in code
    assert "end" not in code
    assert "def f(x):" in code
    assert 'a = ""' in code
    assert "return" in code


def test_what_starts_a_process_directly_or_a_few_calls_away() -> None:
    lanes = Lanes(Path(__file__).parent)
    assert lanes.starts_processes(SAMPLES["_starts_directly"])
    assert lanes.starts_processes(SAMPLES["_calls_a_helper"])
    assert lanes.starts_processes(SAMPLES["_decorated_caller"])
    assert lanes.starts_processes(SAMPLES["_uses_a_class"])
    assert lanes.starts_processes(SAMPLES["_names_a_process_config"])  # workerKind: process


def test_words_in_strings_and_comments_do_not_count() -> None:
    lanes = Lanes(Path(__file__).parent)
    assert not lanes.starts_processes(SAMPLES["_only_mentions_it"])
    assert not lanes.starts_processes(SAMPLES["_in_process"])


def test_code_outside_the_root_is_not_followed(tmp_path: Path) -> None:
    lanes = Lanes(tmp_path)  # this file is outside: its helpers are not read
    assert lanes.starts_processes(SAMPLES["_starts_directly"])  # its own code is
    assert not lanes.starts_processes(SAMPLES["_calls_a_helper"])
