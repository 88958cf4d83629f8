"""CORS as Nuclio answers it; requests without an allowed Origin still reach the handler."""

from __future__ import annotations

import pytest

ORIGIN = "https://shop.example.com"
CORS = {"enabled": True, "allow_origins": (ORIGIN,)}


def _preflight(method="POST", headers="Content-Type", origin=ORIGIN):
    sent = {"Access-Control-Request-Method": method}
    if origin is not None:
        sent["Origin"] = origin
    if headers is not None:
        sent["Access-Control-Request-Headers"] = headers
    return sent


async def test_preflight_allowed(serve, recorder, client):
    async with (
        serve(recorder, cors=CORS) as (_, url),
        client.options(url, headers=_preflight()) as resp,
    ):
        assert resp.status == 200
        h = resp.headers
        assert h["Access-Control-Allow-Origin"] == ORIGIN
        assert h["Access-Control-Allow-Methods"] == "HEAD, GET, POST, PUT, DELETE, OPTIONS, PATCH"
        assert h["Access-Control-Allow-Headers"] == (
            "Accept, Content-Length, Content-Type, Authorization, X-Nuclio-Log-Level"
        )
        assert h["Access-Control-Max-Age"] == "5"
        assert "Access-Control-Allow-Credentials" not in h
        assert h.getall("Vary") == [
            "Origin",
            "Access-Control-Request-Method",
            "Access-Control-Request-Headers",
        ]
    assert recorder.events == []


async def test_preflight_compares_ignoring_case_and_sends_credentials(serve, recorder, client):
    cors = {**CORS, "allow_credentials": True, "preflight_max_age_seconds": 60}
    async with serve(recorder, cors=cors) as (_, url):
        sent = _preflight(method="patch", headers="content-type, x-nuclio-log-level")
        sent["Origin"] = ORIGIN.upper()
        async with client.options(url, headers=sent) as resp:
            assert resp.status == 200
            assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN.upper()
            assert resp.headers["Access-Control-Allow-Credentials"] == "true"
            assert resp.headers["Access-Control-Max-Age"] == "60"
    assert recorder.events == []


@pytest.mark.parametrize(
    ("sent", "reason"),
    [
        (_preflight(origin="https://evil.example"), "origin"),
        (_preflight(origin=None), "Origin"),
        (_preflight(method="TRACE"), "method"),
        (_preflight(headers="Content-Type, X-Secret"), "X-Secret"),
    ],
)
async def test_preflight_refused(serve, recorder, client, sent, reason):
    async with (
        serve(recorder, cors=CORS) as (_, url),
        client.options(url, headers=sent) as resp,
    ):
        assert resp.status == 400
        assert reason in await resp.text()
        assert "Access-Control-Allow-Origin" not in resp.headers
        assert len(resp.headers.getall("Vary")) == 3
    assert recorder.events == []


async def test_allowed_origin_gets_cors_headers(serve, recorder, client):
    cors = {**CORS, "allow_credentials": True, "expose_headers": ("X-Total", "X-Page")}
    async with (
        serve(recorder, cors=cors) as (_, url),
        client.post(url, data=b"x", headers={"Origin": ORIGIN}) as resp,
    ):
        assert resp.status == 200
        assert await resp.read() == b"ok"
        assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert resp.headers["Access-Control-Allow-Credentials"] == "true"
        assert resp.headers["Access-Control-Expose-Headers"] == "X-Total, X-Page"
        assert resp.headers.getall("Vary") == ["Origin"]
    assert len(recorder.events) == 1


async def test_wildcard_echoes_the_origin(serve, recorder, client):
    async with (
        serve(recorder, cors={"enabled": True}) as (_, url),
        client.get(url, headers={"Origin": "https://any.example"}) as resp,
    ):
        assert resp.headers["Access-Control-Allow-Origin"] == "https://any.example"


@pytest.mark.parametrize("origin", [None, "https://evil.example"])
async def test_request_without_allowed_origin_still_reaches_the_handler(
    serve, recorder, client, origin
):
    headers = {"Origin": origin} if origin else {}
    async with serve(recorder, cors=CORS) as (_, url), client.get(url, headers=headers) as resp:
        assert resp.status == 200
        assert await resp.read() == b"ok"
        assert "Access-Control-Allow-Origin" not in resp.headers
        assert resp.headers.getall("Vary") == ["Origin"]
    assert len(recorder.events) == 1


async def test_error_answers_carry_cors_headers(serve, recorder, client):
    async with (
        serve(recorder, cors=CORS, max_request_body_size=10) as (_, url),
        client.post(url, data=b"x" * 100, headers={"Origin": ORIGIN}) as resp,
    ):
        assert resp.status == 413
        assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN


async def test_plain_options_reaches_the_handler(serve, recorder, client):
    async with (
        serve(recorder, cors=CORS) as (_, url),
        client.options(url, headers={"Origin": ORIGIN}) as resp,
    ):
        assert resp.status == 200
    assert recorder.event.method == "OPTIONS"


async def test_cors_disabled_leaves_preflight_to_the_handler(serve, recorder, client):
    async with serve(recorder) as (_, url), client.options(url, headers=_preflight()) as resp:
        assert resp.status == 200
        assert "Access-Control-Allow-Origin" not in resp.headers
        assert "Vary" not in resp.headers
    assert recorder.event.method == "OPTIONS"
