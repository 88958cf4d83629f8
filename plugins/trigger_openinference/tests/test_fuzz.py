"""Fuzz the REST request parser: any body is a 4xx with ``{"error"}``, never a 500 or a
dead server. In-process on the parser itself (many bodies), then over HTTP (fewer)."""

from __future__ import annotations

import http.client
import json

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dh_serverless.triggers.openinference._request import RequestError
from dh_serverless.triggers.openinference._rest_codec import parse_request
from dh_serverless.triggers.openinference.bodies import lists_body, numpy_body
from dh_serverless.triggers.openinference.datatypes import DATATYPES

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
