"""Envoy replies: prebuilt "go on" and "hold back" answers, mutations, immediate answers.

A reply must mirror the message it answers (``request_headers`` for ``request_headers``),
or be an ``immediate_response``; anything else makes Envoy fail the request.
"""

from __future__ import annotations

import gzip
import zlib

from envoy.service.ext_proc.v3 import external_processor_pb2 as ep  # type: ignore[import-untyped]

from dh_serverless.triggers.extproc.headers import build_header_mutation

__all__ = ("CLEAR", "CONTINUE", "common", "immediate", "recompress")

_REPLY_TYPE = {
    "request_headers": ep.HeadersResponse,
    "response_headers": ep.HeadersResponse,
    "request_body": ep.BodyResponse,
    "response_body": ep.BodyResponse,
    "request_trailers": ep.TrailersResponse,
    "response_trailers": ep.TrailersResponse,
}


def _continue(kind: str) -> ep.ProcessingResponse:
    reply = ep.ProcessingResponse()
    getattr(reply, kind).SetInParent()
    return reply


#: Prebuilt "go on unchanged" replies, one per message kind (never mutated).
CONTINUE = {kind: _continue(kind) for kind in _REPLY_TYPE}


def common(
    kind: str,
    sets: list[tuple[str, bytes, bool]],
    removes: list[str],
    body: bytes | None = None,
    clear: bool = False,
) -> ep.ProcessingResponse:
    """The reply to a ``kind`` message: header mutation, and a new body (or ``clear``)."""
    if not sets and not removes and body is None and not clear:
        return CONTINUE[kind]
    reply = ep.ProcessingResponse()
    response = getattr(reply, kind).response
    if sets or removes:
        response.header_mutation.CopyFrom(build_header_mutation(sets, removes))
    if body is not None:
        response.body_mutation.body = body
    elif clear:
        response.body_mutation.clear_body = True
    return reply


#: Prebuilt "hold this chunk back" replies for the two body kinds.
CLEAR = {kind: common(kind, [], [], clear=True) for kind in ("request_body", "response_body")}


def immediate(
    status: int, body: bytes, sets: list[tuple[str, bytes, bool]], details: str
) -> ep.ProcessingResponse:
    """An ``ImmediateResponse``: Envoy answers the client with it and ends the stream."""
    reply = ep.ProcessingResponse()
    immediate = reply.immediate_response
    immediate.status.code = status
    immediate.body = body
    immediate.details = details
    if sets:
        immediate.headers.CopyFrom(build_header_mutation([(k, v, a) for k, v, a in sets], []))
    return reply


def recompress(encoding: bytes, body: bytes) -> bytes:
    """``body`` compressed again as ``encoding`` (``gzip`` or ``deflate``)."""
    if encoding == b"deflate":
        return zlib.compress(body)
    return gzip.compress(body, mtime=0)
