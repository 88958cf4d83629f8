"""The {{ cookiecutter.kind }} sink: fed by the core's ``test`` trigger, checked in the file."""

from __future__ import annotations

import pytest

from dh_serverless.core.api import UserError


def sink(path: object, **attributes: object) -> dict[str, object]:
    return {"kind": "{{ cookiecutter.kind }}", "attributes": {"path": str(path), **attributes}}


async def test_results_are_appended_in_order(dh_sink_function, tmp_path):
    out = tmp_path / "results.txt"
    function = await dh_sink_function(sink(out), workers=4, order_wait=1.0)
    for n in range(5):
        assert (await function.push(b"result %d" % n, "text/plain")).status_code == 200
    assert (await function.push(b"boom", path="/raise")).status_code == 500
    assert (await function.push(b"missing", status=404)).status_code == 404
    await function.stop()  # what is queued is written before the file closes
    assert out.read_bytes() == b"".join(b"result %d\n" % n for n in range(5))
    assert function.metric("dh_{{ cookiecutter.__package }}_written_bytes", trigger="web") == out.stat().st_size


async def test_the_separator(dh_sink_function, tmp_path):
    out = tmp_path / "results.txt"
    function = await dh_sink_function(sink(out, separator=" | "))
    await function.push(b"a")
    await function.push(b"b")
    await function.stop()
    assert out.read_text() == "a | b | "


async def test_a_path_that_cannot_be_opened_is_a_clear_error(dh_sink_function, tmp_path):
    with pytest.raises(UserError) as info:
        await dh_sink_function(sink(tmp_path / "no" / "such" / "dir.txt"))
    assert info.value.exit_code == 1
    assert "{{ cookiecutter.kind }} sink cannot open" in str(info.value)


async def test_a_missing_path_names_the_key(dh_sink_function):
    with pytest.raises(UserError) as info:
        await dh_sink_function({"kind": "{{ cookiecutter.kind }}", "attributes": {}})
    assert info.value.exit_code == 2
    assert "spec.triggers.web.attributes.sink.attributes" in str(info.value)
