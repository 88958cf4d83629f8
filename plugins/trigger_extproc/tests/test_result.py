"""What a handler may return, as the trigger's result converter reads it."""

from __future__ import annotations

import pickle

import nuclio_sdk
import pytest

from dh_serverless.hookspecs import Response
from dh_serverless.triggers.extproc import HandlerAnswer
from dh_serverless.triggers.extproc import convert_result as convert_response


def convert_result(result):
    """The handler's answer, as the trigger finds it in the Converted's value."""
    answer = convert_response(result).value
    assert isinstance(answer, HandlerAnswer)
    return answer


def test_plain_values():
    text = convert_result("new")
    assert (text.body, text.body_given, text.status_code, text.sets) == (b"new", True, 200, [])
    assert convert_result(b"\x00raw").body == b"\x00raw"
    nothing = convert_result(None)
    assert (nothing.body, nothing.body_given) == (b"", False)
    empty = convert_result("")
    assert (empty.body, empty.body_given) == (b"", True)  # an explicit empty body clears it
    response = convert_response({"a": 1})
    assert response.content_type == "application/json"
    data = convert_result({"a": 1})
    assert data.body == b'{"a": 1}'
    assert data.sets == [("content-type", b"application/json", False)]
    assert convert_result((403, "no")).status_code == 403
    assert convert_result(12).body == b"12"


def test_response_headers_set_append_remove_and_processing_status():
    r = convert_result(
        Response(
            headers={"X-Set": "v", "x-bytes": b"\xff", "x-list": ["a", "b"], "x-gone": None,
                     "X-Processing-Status": "200", "Content-Length": "99"},
            body="b",
        )
    )  # fmt: skip
    assert r.processing_status == 200
    assert r.sets == [
        ("x-set", b"v", False),
        ("x-bytes", b"\xff", False),
        ("x-list", b"a", True),
        ("x-list", b"b", True),
    ]
    assert r.removes == ["x-gone"]


def test_nuclio_sdk_response_and_content_type():
    r = convert_result(nuclio_sdk.Response(body="x", content_type="text/csv", status_code=201))
    assert r.status_code == 201
    assert ("content-type", b"text/csv", False) in r.sets
    assert convert_result(nuclio_sdk.Response(body="x", status_code=0)).status_code == 200


@pytest.mark.parametrize("bad", [(1000, "x"), Response(status_code=-1)])
def test_invalid_status_raises(bad):
    with pytest.raises(TypeError):
        convert_result(bad)


def test_invalid_processing_status_raises():
    with pytest.raises(TypeError, match="X-Processing-Status"):
        convert_result(Response(headers={"x-processing-status": "soon"}))


def test_pickles_for_process_workers():
    r = convert_result(Response(headers={"a": ["1"], "b": None}, body="z", status_code=202))
    back = pickle.loads(pickle.dumps(r, protocol=5))
    assert isinstance(back, HandlerAnswer)
    assert (back.body, back.sets, back.removes, back.status_code) == (
        b"z", [("a", b"1", True)], ["b"], 202,
    )  # fmt: skip
