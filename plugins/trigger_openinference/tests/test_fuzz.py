"""Fuzz the REST request parser: any body is a 4xx with ``{"error"}``, never a 500 or a
dead server. In-process on the parser itself (many bodies), then over HTTP (fewer)."""

from __future__ import annotations

import http.client
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dh_serverless.triggers.openinference._request import RequestError
from dh_serverless.triggers.openinference._rest_codec import parse_request
from dh_serverless.triggers.openinference.bodies import lists_body, numpy_body
from dh_serverless.triggers.openinference.datatypes import DATATYPES, TensorError, from_json

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=6), children)
    ),
    max_leaves=20,
)
datatypes = st.sampled_from([*DATATYPES, "fp32", "", "FP8"])
shapes = st.lists(st.integers(-2, 5), max_size=3) | json_values
tensor = st.fixed_dictionaries(
    {"name": st.text(max_size=6), "datatype": datatypes, "shape": shapes},
    optional={
        "data": json_values,
        "parameters": st.dictionaries(
            st.sampled_from(["binary_data_size", "binary_data", "x"]),
            st.integers(-5, 200) | json_values,
            max_size=2,
        ),
    },
)
requests = st.fixed_dictionaries(
    {"inputs": st.lists(tensor, max_size=3) | json_values},
    optional={
        "id": json_values,
        "parameters": json_values,
        "outputs": st.lists(
            st.fixed_dictionaries(
                {"name": st.text(max_size=4)}, optional={"parameters": json_values}
            ),
            max_size=2,
        )
        | json_values,
    },
)


def _check(body: bytes, header: int | None) -> None:
    error = None
    try:
        parsed = parse_request(body, header)
    except RequestError as exc:
        error = exc
    if error is not None:
        assert 400 <= error.status < 500
        assert error.message
        return
    for tensor_ in parsed.inputs:
        assert isinstance(tensor_.array, np.ndarray)
        assert list(tensor_.array.shape) == tensor_.shape
    # a request the parser took must also make both kinds of event body
    lists_body(parsed, "m", "1")
    numpy_body(parsed, "m", "1", "rest")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests, st.binary(max_size=64), st.booleans())
def test_parser_takes_structured_requests_or_says_why(doc, tail, binary):
    head = json.dumps(doc).encode()
    if binary:
        _check(head + tail, len(head))
    else:
        _check(head, None)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.one_of(st.none(), st.integers(-5, 250)))
def test_parser_takes_any_bytes_or_says_why(body, header):
    _check(body, header)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.one_of(st.binary(max_size=120), requests.map(lambda d: json.dumps(d).encode())),
    st.one_of(st.none(), st.integers(-3, 150).map(str), st.text(max_size=4)),
)
def test_server_answers_4xx_with_an_error_and_stays_up(identity_server, body, header):
    headers = {} if header is None else {"Inference-Header-Content-Length": header}
    conn = http.client.HTTPConnection("127.0.0.1", identity_server.rest, timeout=10)
    try:
        try:
            conn.request("POST", "/v2/models/identity/infer", body=body, headers=headers)
        except ValueError:  # http.client refuses this header value itself
            return
        response = conn.getresponse()
        answer = response.read()
    finally:
        conn.close()
    assert response.status < 500, answer
    if response.status >= 400:
        assert list(json.loads(answer)) == ["error"]
    assert identity_server.alive()


_NUMERIC = [name for name in DATATYPES if name not in ("BOOL", "BF16", "BYTES")]
_numbers = st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=500, deadline=None)
@given(datatype=st.sampled_from(_NUMERIC), data=st.lists(_numbers, min_size=1, max_size=40))
def test_json_values_are_taken_exactly_when_their_cast_stays_in_range(datatype, data):
    """The range check (Python's min/max on a short list, numpy's on a long one) agrees with
    the cast itself: a value is refused exactly when it would overflow or become inf."""
    dtype = DATATYPES[datatype]
    if dtype.kind in "iu" and any(isinstance(v, float) for v in data):
        return  # floats for an integer type: refused by kind, tested elsewhere
    if datatype != "UINT64" and any(isinstance(v, int) and v >= 2**63 for v in data):
        return  # beyond int64: numpy reads them as floats or objects, refused by kind
    if dtype.kind == "f":
        with np.errstate(over="ignore"):
            fits = bool(np.isfinite(np.asarray(data, dtype=np.float64).astype(dtype)).all())
    else:
        info = np.iinfo(dtype)
        fits = all(info.min <= v <= info.max for v in data)
    if not fits:
        with pytest.raises(TensorError, match="out of the range"):
            from_json(data, datatype, [len(data)], "X")
        return
    array = from_json(data, datatype, [len(data)], "X")
    assert array.dtype == dtype
    assert array.shape == (len(data),)
    if dtype.kind in "iu":
        assert array.tolist() == data
    else:
        assert array.tolist() == np.asarray(data).astype(dtype).tolist()


_FP32_TOP = 3.4028235677973362e38  # the float64 just below 2**128 - 2**103


@pytest.mark.parametrize(
    ("datatype", "lowest", "highest", "below", "above"),
    [
        # Halfway from the largest value to the next power of two rounds to inf: 65520
        # for FP16 (largest 65504), 2**128 - 2**103 for FP32.
        ("FP16", -65519.99, 65519.99, -65520.0, 65520.0),
        ("FP32", -_FP32_TOP, _FP32_TOP, -(2.0**128 - 2.0**103), 2.0**128 - 2.0**103),
        ("INT8", -128, 127, -129, 128),
        ("UINT32", 0, 2**32 - 1, -1, 2**32),
        ("UINT64", 0, 2**64 - 1, -1, 2**64),
    ],
)
@pytest.mark.parametrize("length", [2, 100])  # Python's min/max, and numpy's
def test_the_range_ends_where_the_cast_overflows(datatype, lowest, highest, below, above, length):
    ends = [lowest] + [highest] * (length - 1)
    assert from_json(ends, datatype, [length], "X").shape == (length,)
    for wrong in ([below, *ends[1:]], [*ends[:-1], above]):
        with pytest.raises(TensorError, match="out of the range"):
            from_json(wrong, datatype, [length], "X")
