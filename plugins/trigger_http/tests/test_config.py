"""``attributes`` structured by the core's converter, as the runtime does it."""

from __future__ import annotations

import pytest

from dh_serverless.core.config import CONVERTER, structure
from dh_serverless.core.errors import ConfigError
from dh_serverless.triggers.http import CorsConfig, HttpAttributes, dh_register_converters

PATH = ("spec", "triggers", "web", "attributes")


@pytest.fixture(autouse=True, scope="module")
def _converters_registered():
    """The runtime calls every plugin's ``dh_register_converters`` before structuring."""
    dh_register_converters(CONVERTER)


def _structure(raw):
    return structure(raw, HttpAttributes, source="function.yaml", path=PATH)


def _problems(raw):
    with pytest.raises(ConfigError) as info:
        _structure(raw)
    assert info.value.source == "function.yaml"
    return info.value.problems


def test_defaults():
    a = _structure({})
    assert (a.port, a.host) == (8080, "0.0.0.0")
    assert a.max_request_body_size == 4194304
    assert a.read_buffer_size == 16384
    assert a.cors == CorsConfig()
    assert a.cors.enabled is False
    assert a.cors.allow_origins == ("*",)
    assert a.cors.allow_methods == ("HEAD", "GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")
    assert a.cors.allow_headers == (
        "Accept", "Content-Length", "Content-Type", "Authorization", "X-Nuclio-Log-Level",
    )  # fmt: skip
    assert a.cors.expose_headers == ()
    assert a.cors.allow_credentials is False
    assert a.cors.preflight_max_age_seconds == 5
    assert _structure(None) == a


def test_nuclio_keys_load_in_any_case():
    a = _structure(
        {
            "port": 32080,
            "maxRequestBodySize": 1048576,
            "READBUFFERSIZE": 32768,
            "cors": {
                "Enabled": True,
                "allowOrigins": ["https://shop.example.com"],
                "allow_methods": ["GET", "POST"],
                "allowHeaders": ["Content-Type"],
                "exposeHeaders": ["X-Total"],
                "allowCredentials": True,
                "preflightMaxAgeSeconds": -1,
                "preflightRequestMethod": "OPTIONS",
            },
        }
    )
    assert a.port == 32080
    assert a.max_request_body_size == 1048576
    assert a.read_buffer_size == 32768
    assert a.cors.enabled is True
    assert a.cors.allow_origins == ("https://shop.example.com",)
    assert a.cors.allow_methods == ("GET", "POST")
    assert a.cors.allow_headers == ("Content-Type",)
    assert a.cors.expose_headers == ("X-Total",)
    assert a.cors.allow_credentials is True
    assert a.cors.preflight_max_age_seconds == -1


def test_platform_keys_are_accepted_and_ignored():
    a = _structure(
        {
            "reduceMemoryUsage": True,
            "mode": "sync",
            "serviceType": "NodePort",
            "disablePortPublishing": True,
            "ingresses": {
                "http": {"host": "host.nuclio", "paths": ["/first/path"]},
                "templated": {"hostTemplate": "@nuclio.fromDefault", "pathType": "Prefix"},
            },
        }
    )
    assert a.port == 8080
    assert a.service_type == "NodePort"


def test_zero_means_the_default():
    a = _structure({"maxRequestBodySize": 0, "readBufferSize": 0})
    assert a.max_request_body_size == 4194304
    assert a.read_buffer_size == 16384


def test_empty_cors_lists_keep_the_defaults():
    cors = _structure({"cors": {"allowOrigins": [], "allowMethods": [], "allowHeaders": []}}).cors
    assert cors == CorsConfig()


def test_comma_separated_lists_are_accepted():
    cors = _structure({"cors": {"allowMethods": "GET, POST", "allowOrigins": "https://a.example"}})
    assert cors.cors.allow_methods == ("GET", "POST")
    assert cors.cors.allow_origins == ("https://a.example",)


def test_unknown_key_names_the_nearest_one():
    problems = _problems({"maxRequestBodySise": 10, "cors": {"alowOrigins": ["x"]}})
    assert any(
        "spec.triggers.web.attributes.maxRequestBodySise" in p and "'maxRequestBodySize'" in p
        for p in problems
    ), problems
    assert any(
        "spec.triggers.web.attributes.cors.alowOrigins" in p and "'allowOrigins'" in p
        for p in problems
    ), problems


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"port": "8080"}, "attributes.port: expected a whole number"),
        ({"port": 70000}, "port must be between 1 and 65535"),
        ({"maxRequestBodySize": -1}, "maxRequestBodySize must be 0"),
        ({"readBufferSize": -1}, "readBufferSize must be 0"),
        ({"cors": {"enabled": "yes"}}, "cors.enabled: expected true or false"),
        ({"cors": {"allowOrigins": 5}}, "cors.allowOrigins: expected a list"),
        ({"cors": {"allowHeaders": [{"a": 1}]}}, "cors.allowHeaders: item 0: expected text"),
        ({"cors": True}, "cors: expected a mapping"),
    ],
)
def test_invalid_values_name_the_key(raw, expected):
    problems = _problems(raw)
    assert any(expected in p for p in problems), problems
