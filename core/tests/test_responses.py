"""Handler results → HTTP answers, and request bodies → ``event.body``.

Every row of the reference's §3.2 conversion table and checklist items 31-54 is asserted
here. We match Nuclio 1.14 except where DESIGN.md §6 documents a difference; those rows
are marked ``# DESIGN §6``.
"""

from __future__ import annotations

import json
import math

import nuclio_sdk
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dh_serverless.core.responses import decode_body, encode_json, error_response, to_response
from dh_serverless.hookspecs.types import Response
from dh_serverless.testing import Platform

TEXT = "text/plain"
JSON = "application/json"


class Obj:
    def __repr__(self) -> str:
        return "<Obj>"


def answer(result):
    """(status, content type, body) as the HTTP client sees them."""
    response = to_response(result)
    assert isinstance(response.body, bytes)
    return response.status_code, response.content_type, response.body


# ---------------------------------------------------------------------------
# §3.2, plain return values
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        pytest.param("hello", (200, TEXT, b"hello"), id="str"),
        pytest.param(b"\x00\x01hi", (200, TEXT, b"\x00\x01hi"), id="bytes"),
        # DESIGN §6: Nuclio sends "bytearray(b'ab')"; we send the raw bytes.
        pytest.param(bytearray(b"ab"), (200, TEXT, b"ab"), id="bytearray"),
        pytest.param({"a": 1, "b": [1, 2]}, (200, JSON, b'{"a": 1, "b": [1, 2]}'), id="dict"),
        # DESIGN §6: Nuclio answers with the first element only; we send the whole list.
        pytest.param(
            [{"a": 1}, {"b": 2}], (200, JSON, b'[{"a": 1}, {"b": 2}]'), id="list-of-dicts"
        ),
        pytest.param([1, 2, 3], (200, JSON, b"[1, 2, 3]"), id="list-of-ints"),
        # DESIGN §6: Nuclio fails with 500.
        pytest.param([], (200, JSON, b"[]"), id="empty-list"),
        pytest.param((201, "x"), (201, TEXT, b"x"), id="tuple-str"),
        pytest.param((202, {"k": "v"}), (202, JSON, b'{"k": "v"}'), id="tuple-dict"),
        pytest.param((201, [1]), (201, JSON, b"[1]"), id="tuple-list"),
        # DESIGN §6: Nuclio sends the JSON string "b'raw'"; we send the raw bytes.
        pytest.param((203, b"raw"), (203, TEXT, b"raw"), id="tuple-bytes"),
        pytest.param((204, None), (204, JSON, b"null"), id="tuple-none"),
        pytest.param((200, 42), (200, JSON, b"42"), id="tuple-int"),
        pytest.param((201, "x", "y"), (200, TEXT, b"(201, 'x', 'y')"), id="three-tuple"),
        # DESIGN §6: Nuclio sends the four bytes "None".
        pytest.param(None, (200, TEXT, b""), id="none"),
        pytest.param(42, (200, TEXT, b"42"), id="int"),
        pytest.param(1.5, (200, TEXT, b"1.5"), id="float"),
        pytest.param(True, (200, TEXT, b"True"), id="bool"),
        pytest.param(Obj(), (200, TEXT, b"<Obj>"), id="object-str"),
        pytest.param({"x": float("nan")}, (200, JSON, b'{"x": "NaN"}'), id="nan"),
        pytest.param(
            {"x": float("inf"), "y": [float("-inf")]},
            (200, JSON, b'{"x": "Infinity", "y": ["-Infinity"]}'),
            id="infinity",
        ),
        pytest.param(
            {"x": Obj(), "s": {1, 2}}, (200, JSON, b'{"x": "<Obj>", "s": "{1, 2}"}'), id="repr"
        ),
    ],
)
def test_return_value_conversion(result, expected):
    assert answer(result) == expected


def test_tuple_with_a_response_body_is_the_json_string_of_its_repr():
    inner = nuclio_sdk.Response(body="x")
    assert answer((201, inner)) == (201, JSON, json.dumps(repr(inner)).encode())


def test_text_is_utf8_and_json_escapes_non_ascii():
    # checklist 50
    assert answer("héllo ✓") == (200, TEXT, "héllo ✓".encode())
    assert answer({"t": "héllo ✓"}) == (200, JSON, b'{"t": "h\\u00e9llo \\u2713"}')


def test_json_keeps_key_order_and_nuclio_separators():
    assert answer({"b": 1, "a": [1, {"c": None}]})[2] == b'{"b": 1, "a": [1, {"c": null}]}'


def test_json_uses_log_method_like_the_sdk_encoder():
    class Loggable:
        def __log__(self):
            return {"id": 7}

    assert answer({"x": Loggable()})[2] == b'{"x": {"id": 7}}'
    assert json.loads(encode_json({"x": Loggable()})) == json.loads(
        json.dumps({"x": Loggable()}, cls=nuclio_sdk.json_encoder.Encoder)
    )


@pytest.mark.parametrize(
    "value",
    [
        {"a": 1, "b": [1, 2.5, None, True]},
        [{"k": "é"}, "✓", 3],
        {"x": float("nan"), "y": float("inf")},
        {"o": Obj(), "s": "text"},
    ],
)
def test_encode_json_matches_nuclio_sdk_encoder(value):
    assert encode_json(value) == nuclio_sdk.json_encoder.Encoder().encode(value).encode()


@pytest.mark.parametrize("status", ["201", 201.0, True, 42, 600])
def test_invalid_status_raises_type_error(status):
    # checklist 54: the runtime answers 500 (see the Platform test below).
    with pytest.raises(TypeError, match="status code"):
        to_response((status, "x"))


@pytest.mark.parametrize("status", [None, 0])
def test_status_none_or_zero_leaves_200(status):
    # Nuclio's processor: "A status_code of 0 or None leaves the HTTP status at 200".
    assert to_response((status, "x")).status_code == 200
    assert to_response(Response(body="x", status_code=status)).status_code == 200


# ---------------------------------------------------------------------------
# §3.2, Response objects (the real nuclio_sdk.Response and ours convert alike)
# ---------------------------------------------------------------------------

RESPONSE_CLASSES = [
    pytest.param(nuclio_sdk.Response, id="nuclio_sdk"),
    pytest.param(Response, id="ours"),
]


@pytest.fixture(params=RESPONSE_CLASSES)
def response_cls(request):
    return request.param


def test_response_status_content_type_and_headers(response_cls):
    # checklist 42 and 43; DESIGN §6: non-string header values are sent as str.
    response = to_response(
        response_cls(
            body="rb",
            headers={"X-A": "1", "X-N": 5, "X-B": True},
            content_type="text/html",
            status_code=201,
        )
    )
    assert (response.status_code, response.content_type, response.body) == (201, "text/html", b"rb")
    assert response.headers == {"X-A": "1", "X-N": "5", "X-B": "True"}


def test_empty_response_is_an_empty_200(response_cls):
    # checklist 46; DESIGN §6: Nuclio sends "None".
    assert answer(response_cls()) == (200, TEXT, b"")


def test_response_dict_body_is_json_even_with_text_plain(response_cls):
    # checklist 44
    assert answer(response_cls(body={"a": 1}, content_type="text/plain")) == (
        200,
        JSON,
        b'{"a": 1}',
    )


def test_response_list_body(response_cls):
    # checklist 45: Nuclio sends str([1, 2]) as text/plain. We send the same bytes but as
    # JSON (application/json), like a dict body. DESIGN §6 does not list this difference yet.
    assert answer(response_cls(body=[1, 2])) == (200, JSON, b"[1, 2]")


def test_response_raw_bytes(response_cls):
    # checklist 47
    response = response_cls(body=b"\xff\xfe", content_type="application/octet-stream")
    assert answer(response) == (200, "application/octet-stream", b"\xff\xfe")


def test_response_defaults_to_text_plain(response_cls):
    assert answer(response_cls(body="x", content_type=None)) == (200, TEXT, b"x")
    assert answer(response_cls(body=7)) == (200, TEXT, b"7")


def test_response_content_type_beats_content_type_header(response_cls):
    # checklist 48
    response = to_response(
        response_cls(body="x", headers={"Content-Type": "application/xml"}, content_type="text/csv")
    )
    assert (response.status_code, response.content_type, response.body) == (200, "text/csv", b"x")
    assert "content-type" not in {k.lower() for k in response.headers}


def test_response_dict_body_with_unserialisable_value(response_cls):
    # Nuclio's strict json.dumps fails with 500 here; we write the repr() as for a
    # returned dict. DESIGN §6 does not list this difference yet.
    assert answer(response_cls(body={"x": Obj()})) == (200, JSON, b'{"x": "<Obj>"}')


def test_response_with_string_status_raises_type_error(response_cls):
    with pytest.raises(TypeError):
        to_response(response_cls(body="x", status_code="201"))


def test_response_stream_no_ack_header_is_sent_as_text(response_cls):
    response = response_cls(body="x")
    response.ensure_no_ack()
    assert to_response(response).headers == {"x-nuclio-stream-no-ack": "True"}


# ---------------------------------------------------------------------------
# Errors (§1.6, checklist 51-54)
# ---------------------------------------------------------------------------


def raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:  # noqa: BLE001 - we want it with its traceback
        return caught


def test_exception_body_is_type_and_message_without_traceback():
    # checklist 51; DESIGN §6: no traceback unless --debug.
    response = error_response(raised(ValueError("boom")))
    assert (response.status_code, response.content_type, response.body) == (
        500,
        TEXT,
        b"ValueError: boom",
    )


def test_exception_without_message_is_its_type_name():
    assert error_response(raised(KeyError())).body == b"KeyError"


def test_debug_exception_body_is_nuclios_with_traceback():
    response = error_response(raised(ValueError("boom")), debug=True)
    assert response.status_code == 500
    assert response.content_type == TEXT
    text = response.body.decode()
    assert text.startswith(
        'Exception caught in handler - "boom": Traceback (most recent call last):'
    )
    assert text.rstrip().endswith("ValueError: boom")


def test_exception_with_response_is_honoured():
    # checklist 52; DESIGN §6: Nuclio ignores it and answers 500.
    exc = raised(nuclio_sdk.ExceptionWithResponse(418, body="teapot"))
    assert answer_of(error_response(exc)) == (418, TEXT, b"teapot")


def test_exception_with_response_content_type_and_json_body():
    exc = raised(
        nuclio_sdk.ExceptionWithResponse(409, body={"error": "conflict"}, content_type=JSON)
    )
    assert answer_of(error_response(exc)) == (409, JSON, b'{"error": "conflict"}')


def test_exception_with_invalid_status_falls_back_to_500():
    exc = raised(nuclio_sdk.ExceptionWithResponse(42, body="x"))
    response = error_response(exc)
    assert response.status_code == 500
    assert response.body.startswith(b"ExceptionWithResponse")


def answer_of(response: Response):
    return response.status_code, response.content_type, response.body


# The same through a handler, as the testing helper (and the runtime) run it.


def handler_raising(context, event):
    raise ValueError("boom")


def handler_teapot(context, event):
    raise nuclio_sdk.ExceptionWithResponse(418, body="teapot")


def handler_string_status(context, event):
    return ("201", "x")


def handler_sdk_response(context, event):
    return nuclio_sdk.Response(
        body={"ok": True}, headers={"X-Id": 3}, content_type="text/plain", status_code=202
    )


def handler_context_response(context, event):
    return context.Response(body="made", content_type="text/html", status_code=201)


def handler_echo(context, event):
    return event.body


@pytest.fixture
def platform():
    with Platform() as platform:
        yield platform


def test_handler_exception_is_a_500_and_the_worker_keeps_serving(platform):
    # checklist 51 and 53
    assert answer_of(platform.invoke(handler_raising)) == (500, TEXT, b"ValueError: boom")
    assert answer_of(platform.invoke(handler_echo, body="next")) == (200, TEXT, b"next")


def test_handler_raising_exception_with_response(platform):
    assert answer_of(platform.invoke(handler_teapot)) == (418, TEXT, b"teapot")


def test_handler_returning_string_status_gets_500(platform):
    # checklist 54
    response = platform.invoke(handler_string_status)
    assert response.status_code == 500
    assert response.body.startswith(b"TypeError: ")


def test_handler_returning_real_nuclio_response(platform):
    response = platform.invoke(handler_sdk_response)
    assert answer_of(response) == (202, JSON, b'{"ok": true}')
    assert response.headers == {"X-Id": "3"}


def test_handler_returning_context_response(platform):
    assert answer_of(platform.invoke(handler_context_response)) == (201, "text/html", b"made")


# ---------------------------------------------------------------------------
# decode_body (§2.3, checklist 18-23)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"a": 1}', {"a": 1}),
        (b"[1,2]", [1, 2]),
        (b'"s"', "s"),
        (b"42", 42),
        (b"null", None),
        ('{"t": "é"}'.encode(), {"t": "é"}),
    ],
)
def test_application_json_is_decoded(raw, expected):
    assert decode_body("application/json", raw) == expected


@pytest.mark.parametrize(
    "raw",
    [b"{bad", b"", b"\xff\xfe{}", b"[" * 100_000],
    ids=["invalid", "empty", "not-utf8", "deep"],
)
def test_undecodable_json_keeps_the_original_bytes(raw):
    body = decode_body("application/json", raw)
    assert body == raw
    assert isinstance(body, bytes)


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/json ",
        "text/plain",
        "",
        None,
        "application/octet-stream",
        "application/cloudevents+json",
    ],
)
def test_other_content_types_keep_bytes(content_type):
    body = decode_body(content_type, b'{"a": 1}')
    assert body == b'{"a": 1}'
    assert isinstance(body, bytes)


# ---------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=40,
)
#: A top-level 2-tuple is a (status, body) pair, so the top level holds no tuples.
handler_results = json_values.filter(lambda v: not isinstance(v, tuple))


def _no_constants(name: str):
    raise AssertionError(f"invalid JSON constant {name}")


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(handler_results)
def test_to_response_never_raises_on_json_like_values(value):
    response = to_response(value)
    assert isinstance(response.body, bytes)
    assert response.status_code == 200
    assert response.content_type in (TEXT, JSON)
    if response.content_type == JSON:
        # Strict JSON: NaN and infinities were written as strings.
        json.loads(response.body, parse_constant=_no_constants)


@settings(max_examples=200)
@given(st.integers(min_value=100, max_value=599), json_values)
def test_to_response_on_status_tuples(status, value):
    response = to_response((status, value))
    assert response.status_code == status
    assert isinstance(response.body, bytes)


@settings(max_examples=200)
@given(json_values, st.sampled_from([None, "", "text/plain", "application/json", "image/png"]))
def test_to_response_on_response_objects(value, content_type):
    response = to_response(nuclio_sdk.Response(body=value, content_type=content_type))
    assert isinstance(response.body, bytes)
    assert response.content_type


@settings(max_examples=300)
@given(
    st.binary(max_size=200),
    st.sampled_from(["application/json", "text/plain", "", None]) | st.text(max_size=30),
)
def test_decode_body_never_raises(raw, content_type):
    body = decode_body(content_type, raw)
    if content_type != "application/json":
        assert body is raw


@settings(max_examples=200)
@given(json_values)
def test_decode_body_round_trips_json(value):
    text = json.dumps(value)
    decoded = decode_body("application/json", text.encode())
    if not _has_nan(value):
        assert decoded == json.loads(text)


def _has_nan(value) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, dict):
        return any(_has_nan(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_nan(v) for v in value)
    return False


def test_a_converted_response_is_used_as_it_is_and_any_other_is_converted():
    """The fast path for a handler's Response already in converted form, and its limits."""
    ready = Response(body=b"x", content_type="image/jpeg", status_code=201)
    assert to_response(ready) is ready
    for other in (
        Response(body="text"),
        Response(body=b"x", headers={"X-A": 1}),
        Response(body=b"x", status_code=0),
        Response(body=b"x", event_id="e"),
    ):
        converted = to_response(other)
        assert converted is not other
        assert isinstance(converted.body, bytes)
        assert converted.event_id is None
