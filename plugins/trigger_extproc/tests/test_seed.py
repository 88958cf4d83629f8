"""The original project's extproc demo (test/extproc), against a real Envoy."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def seed(stack):
    processor = stack.processor("wrapprocessor", "test_handler:handler_serve", workers=4)
    return stack.envoy("wrapprocessor", [processor.port])


def test_post_is_preprocessed_on_the_way_in_and_postprocessed_on_the_way_out(seed):
    reply = seed.request("POST", "/resource", body=b"hello", headers={"Content-Type": "text/plain"})
    assert reply.status == 200, reply
    text = reply.body.decode()
    assert text.endswith(" - postprocessed")
    echo = __import__("json").loads(text.removesuffix(" - postprocessed"))
    assert echo["Method"] == "POST"
    assert echo["Path"] == "/resource"
    assert echo["Body"] == "hello - preprocessed"
    assert echo["Headers"]["content-length"] == "20"  # G1: corrected with the new body


def test_get_calls_the_handler_at_phase_1_and_passes(seed):
    reply = seed.request("GET", "/resource?a=1")
    assert reply.status == 200, reply
    echo = __import__("json").loads(reply.body.decode().removesuffix(" - postprocessed"))
    assert echo["Method"] == "GET"
    assert echo["Body"] == ""  # the phase-1 string is not a body for a GET
