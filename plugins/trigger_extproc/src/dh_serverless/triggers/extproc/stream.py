"""One ext_proc stream (one HTTP request): messages in, handler calls, replies out.

Envoy sends one ``ProcessingRequest`` and waits for the matching reply, so messages are
handled inline, in order, on the stream's own coroutine (no task per message). What the
handler sees and when (``processing-phase``):

* request side (pre, wrap, observe): at 1 when the request has no body
  (``end_of_stream`` on the headers, or Envoy sends no request body), else at 2 with the
  whole body (STREAMED chunks are gathered when ``bufferStreamedBodies``);
* response side (post, wrap, observe): at 4 when the response has no body, else at 5.

Headers are a dict of lower-case names to ``bytes`` values plus ``processing-phase``;
the body is ``bytes`` (decompressed when ``decompressBodies``).
"""

from __future__ import annotations

import datetime
import logging
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import grpc  # type: ignore[import-untyped]
from envoy.extensions.filters.http.ext_proc.v3 import processing_mode_pb2 as pm  # type: ignore[import-untyped]
from envoy.service.ext_proc.v3 import external_processor_pb2 as ep  # type: ignore[import-untyped]

from dh_serverless.core.api import UTC
from dh_serverless.hookspecs import (
    Converted,
    Dispatch,
    DispatchError,
    Event,
    TriggerInfo,
)
from dh_serverless.triggers.extproc.bodies import DECODABLE, BodyBuffer, TooLarge, decompress
from dh_serverless.triggers.extproc.config import ExtprocAttributes
from dh_serverless.triggers.extproc.headers import read_headers
from dh_serverless.triggers.extproc.observer import Observer
from dh_serverless.triggers.extproc.replies import CLEAR, CONTINUE, common, immediate, recompress
from dh_serverless.triggers.extproc.result import HandlerAnswer
from dh_serverless.triggers.extproc.stats import PHASES, TriggerStats

__all__ = ("Processor",)

_NONE = pm.ProcessingMode.NONE
_PHASE_BYTES = {kind: str(n).encode() for kind, n in PHASES.items()}
#: the ``DispatchError.outcome`` values the trigger's own counters keep apart; others: "error"
_DISPATCH_OUTCOMES = frozenset({"busy", "timeout", "shutdown"})
_PLAIN = frozenset({"continue", "mutated", "observed", "dropped"})  # never immediate
_OVER_LIMIT = b"request body is larger than perRequestBodyBufferBytes"
_utc = UTC


class _Side:
    """One direction's body: buffer, encoding, and whether chunks are being held back."""

    __slots__ = ("buffer", "encoding", "held", "mode", "passing", "streamed")

    def __init__(self) -> None:
        self.buffer: BodyBuffer | None = None
        self.encoding: bytes | None = None
        self.mode: int | None = None  # from protocol_config, when Envoy sent it
        self.held = False  # earlier chunks answered with clear_body
        self.passing = False  # over the limit with passthrough: no handler, no changes
        self.streamed = False  # a chunk without end_of_stream was seen


class _Unavailable(Exception):
    """End the stream with gRPC UNAVAILABLE, so Envoy applies its own failure policy."""


class _Stream:
    """What one stream (one HTTP request) remembers between its messages."""

    __slots__ = (
        "called",
        "fields",
        "handler_ns",
        "headers",
        "method",
        "path",
        "request",
        "request_id",
        "response",
        "timestamp",
    )

    def __init__(self) -> None:
        self.headers: dict[str, bytes] = {}
        self.method = ""
        self.path = "/"
        self.fields: dict[str, str] = {}
        self.request_id: str | None = None
        self.timestamp: datetime.datetime | None = None
        self.handler_ns = 0
        self.called = False  # the handler ran for this stream already
        self.request = _Side()
        self.response = _Side()


class Processor:
    """``envoy.service.ext_proc.v3.ExternalProcessor`` for one trigger (one processor type).

    :param dispatch: the runtime's dispatch chain.
    :param observer: the background queue (observeprocessor only).
    """

    def __init__(
        self,
        name: str,
        attributes: ExtprocAttributes,
        dispatch: Dispatch,
        stats: TriggerStats,
        logger: logging.Logger,
        observer: Observer | None = None,
    ) -> None:
        kind = attributes.type
        options = attributes.processing_options
        self.name = name
        self.kind = kind
        self.options = options
        self.dispatch = dispatch
        self.stats = stats
        self.logger = logger
        self.observer = observer
        self.info = TriggerInfo("extproc", name)
        self.on_request = kind in ("preprocessor", "wrapprocessor", "observeprocessor")
        self.on_response = kind in ("postprocessor", "wrapprocessor", "observeprocessor")
        # A returned status other than 200 answers at once (as the original's pre, post and
        # wrap request phases); the observer's results never change the traffic.
        self.by_status = kind != "observeprocessor"
        self.limit = options.per_request_body_buffer_bytes
        self.reject_over = options.body_over_limit == "reject"
        self.reject_errors = options.on_error == "reject"
        self.extra_response_headers: list[tuple[str, bytes, bool]] = (
            [("x-extproc-names", kind.encode(), True)] if options.update_ext_proc_header else []
        )
        self.details = f"dh_serverless_{kind}"
        self._handlers: dict[str, Callable[..., Any]] = {
            "request_headers": self._request_headers,
            "request_body": self._body,
            "response_headers": self._response_headers,
            "response_body": self._body,
            "request_trailers": self._trailers,
            "response_trailers": self._trailers,
        }

    # ------------------------------------------------------------------
    # The stream loop
    # ------------------------------------------------------------------

    async def Process(
        self, request_iterator: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        """Serve one stream: read a message, reply, until Envoy half-closes."""
        stats = self.stats
        counts = stats.messages
        timings = stats.message
        handlers = self._handlers
        log_phases = self.options.log_phases
        perf = time.perf_counter
        stats.streams.inc()
        stats.active.inc()
        state = _Stream()
        first = True
        if self.options.log_stream:
            self.logger.info("extproc %s: stream started", self.name)
        try:
            while True:
                request = await context.read()
                if request is grpc.aio.EOF:
                    return
                start = perf()
                kind = request.WhichOneof("request")
                if kind is None:
                    counts["unknown", "invalid"].inc()
                    await context.abort(
                        grpc.StatusCode.INVALID_ARGUMENT,
                        "ProcessingRequest without a request (headers, body or trailers)",
                    )
                    return
                if first:
                    first = False
                    if request.HasField("protocol_config"):  # sent on the first message only
                        config = request.protocol_config
                        state.request.mode = config.request_body_mode
                        state.response.mode = config.response_body_mode
                silent = request.observability_mode
                try:
                    reply, outcome = await handlers[kind](state, kind, request)
                except _Unavailable as exc:
                    await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
                    return
                except Exception as exc:
                    self.logger.warning(
                        "extproc %s: cannot process %s: %s: %s; passing it on unchanged",
                        self.name, kind, type(exc).__name__, exc, exc_info=True,
                    )  # fmt: skip
                    reply, outcome = CONTINUE[kind], "invalid"
                # Counted before the reply goes out, so a scrape after the answer sees it.
                counts[kind, outcome].inc()
                elapsed = perf() - start
                timings[kind].observe(elapsed)
                if not silent:
                    await context.write(reply)
                if log_phases:
                    self.logger.info(
                        "extproc %s: phase %d (%s) %s in %.3f ms",
                        self.name, PHASES[kind], kind, outcome, elapsed * 1000,
                    )  # fmt: skip
                if outcome not in _PLAIN and reply.HasField("immediate_response"):
                    return  # Envoy sends nothing more on this stream
                if silent and self._last(kind, request):
                    return  # observability mode: do not hold the stream for 5 s
        finally:
            stats.active.dec()
            if self.options.log_stream:
                self.logger.info(
                    "extproc %s: stream ended (handler %.3f ms)", self.name, state.handler_ns / 1e6
                )

    @staticmethod
    def _last(kind: str, request: ep.ProcessingRequest) -> bool:
        if kind == "response_body":
            return bool(request.response_body.end_of_stream)
        if kind == "response_headers":
            return bool(request.response_headers.end_of_stream)
        return kind == "response_trailers"

    # ------------------------------------------------------------------
    # Phases
    # ------------------------------------------------------------------

    async def _request_headers(
        self, state: _Stream, kind: str, request: ep.ProcessingRequest
    ) -> tuple[ep.ProcessingResponse, str]:
        message = request.request_headers
        headers, pseudo = read_headers(message.headers)
        state.headers = headers
        state.timestamp = datetime.datetime.now(_utc)
        state.method = pseudo.get(":method", b"").decode("latin-1")
        path, _, query = pseudo.get(":path", b"/").decode("latin-1").partition("?")
        state.path = path or "/"
        if query:
            parsed = urllib.parse.parse_qs(query, keep_blank_values=True)
            state.fields = {k: ",".join(v) for k, v in parsed.items()}
        options = self.options
        rid = headers.get(options.request_id_header_name.lower())
        state.request_id = rid.decode("latin-1") if rid else options.request_id_fallback or None
        state.request.encoding = headers.get("content-encoding")
        if not self.on_request:
            return CONTINUE[kind], "continue"
        if message.end_of_stream or state.request.mode == _NONE:
            return await self._call(state, kind, b"", body_phase=False)
        return CONTINUE[kind], "continue"

    async def _response_headers(
        self, state: _Stream, kind: str, request: ep.ProcessingRequest
    ) -> tuple[ep.ProcessingResponse, str]:
        message = request.response_headers
        headers, _pseudo = read_headers(message.headers)
        if state.timestamp is None:  # request phases skipped (postprocessor) or never sent
            state.timestamp = datetime.datetime.now(_utc)
            self._from_attributes(state, request)
        state.headers = headers
        state.response.encoding = headers.get("content-encoding")
        extra = list(self.extra_response_headers)
        ends = message.end_of_stream or state.response.mode == _NONE
        if self.options.update_duration_header and not self.on_response:
            extra.append(("x-extproc-duration-ns", str(state.handler_ns).encode(), False))
        if self.on_response and ends:
            return await self._call(state, kind, b"", body_phase=False, extra=extra)
        if extra:
            return common(kind, extra, []), "mutated"
        return CONTINUE[kind], "continue"

    async def _trailers(
        self, state: _Stream, kind: str, request: ep.ProcessingRequest
    ) -> tuple[ep.ProcessingResponse, str]:
        return CONTINUE[kind], "continue"

    async def _body(
        self, state: _Stream, kind: str, request: ep.ProcessingRequest
    ) -> tuple[ep.ProcessingResponse, str]:
        on_request = kind == "request_body"
        message = request.request_body if on_request else request.response_body
        side = state.request if on_request else state.response
        wanted = self.on_request if on_request else self.on_response
        chunk = message.body
        eos = message.end_of_stream
        if not eos:
            side.streamed = True
        if not wanted or side.passing:
            return CONTINUE[kind], "continue"
        observing = self.observer is not None
        if not eos and not self.options.buffer_streamed_bodies and not observing:
            # Chunk by chunk: the handler's body replaces this chunk.
            return await self._call(state, kind, chunk, body_phase=True, chunk=True)
        buffer = side.buffer
        if buffer is None and eos:  # BUFFERED: the whole body in one message
            if len(chunk) > self.limit:
                return self._over_limit(kind, side, None)
            raw = chunk
        else:
            if buffer is None:
                buffer = side.buffer = BodyBuffer(self.limit)
            try:
                buffer.add(chunk)
            except TooLarge:
                side.buffer = None
                return self._over_limit(kind, side, buffer.take() + chunk if side.held else None)
            if not eos:
                if observing:
                    return CONTINUE[kind], "continue"
                side.held = True
                return CLEAR[kind], "continue"
            raw = buffer.take()
            side.buffer = None
        body = raw
        decoded = False
        encoding = side.encoding
        if encoding is not None and self.options.decompress_bodies:
            key = encoding.strip().lower()
            if key in DECODABLE:
                try:
                    plain = decompress(key, raw, self.limit)
                except TooLarge:
                    return self._over_limit(kind, side, raw if side.held else None)
                if plain is None:
                    self.logger.warning(
                        "extproc %s: %s body is not valid %s; the handler gets it as is",
                        self.name, kind, key.decode("latin-1"),
                    )  # fmt: skip
                else:
                    body, decoded = plain, True
        return await self._call(
            state, kind, body, body_phase=True, raw=raw, decoded=decoded, encoding=encoding
        )

    def _over_limit(
        self, kind: str, side: _Side, held: bytes | None
    ) -> tuple[ep.ProcessingResponse, str]:
        """Too large for the handler: 413, or let it through (``held``: what was held back,
        sent on now)."""
        late = kind == "response_body" and side.streamed
        if self.observer is not None or not self.reject_over or late:
            side.passing = True
            side.held = False
            return common(kind, [], [], body=held), "over_limit"
        return immediate(413, _OVER_LIMIT, [], self.details), "over_limit"

    # ------------------------------------------------------------------
    # The handler call and its answer
    # ------------------------------------------------------------------

    def _event(self, state: _Stream, kind: str, body: bytes) -> Event:
        # One dict per direction: the request's (phase 1 or 2), then the response's (4 or 5).
        headers = state.headers
        headers["processing-phase"] = _PHASE_BYTES[kind]
        content_type = headers.get("content-type")
        return Event(
            body,
            content_type.decode("latin-1") if content_type else "",
            self.info,
            state.fields,
            headers,
            state.request_id,
            state.method,
            state.path,
            len(body),
            state.timestamp,
            "",
        )

    async def _call(
        self,
        state: _Stream,
        kind: str,
        body: bytes,
        *,
        body_phase: bool,
        chunk: bool = False,
        raw: bytes = b"",
        decoded: bool = False,
        encoding: bytes | None = None,
        extra: list[tuple[str, bytes, bool]] | None = None,
    ) -> tuple[ep.ProcessingResponse, str]:
        event = self._event(state, kind, body)
        continuation = state.called  # a later phase of a stream in flight: let it finish
        side = state.request if kind.startswith("request") else state.response
        held = side.held
        original = raw if held else None  # what to send when nothing changes
        if self.observer is not None:
            outcome = self.observer.offer(event, continuation=continuation)
            return common(kind, extra or [], [], body=original), outcome
        start = time.perf_counter_ns()
        try:
            response = await self.dispatch(event, continuation=continuation)
        except DispatchError as exc:
            outcome = exc.outcome if exc.outcome in _DISPATCH_OUTCOMES else "error"
            if outcome == "shutdown" and not state.called:
                # A stream that met the drain before any handler call: as if the processor
                # were gone (fail closed or open as Envoy is configured), never unchecked.
                self.stats.messages[kind, outcome].inc()
                raise _Unavailable("the processor is shutting down") from None
            return self._failed(kind, side, outcome, exc.status_code, str(exc), original, extra)
        finally:
            state.called = True
            took = time.perf_counter_ns() - start
            state.handler_ns += took
            self.stats.handler[kind].observe(took / 1e9)
        if not isinstance(response, Converted):
            # The handler raised (or returned something unusable): the core's error answer.
            self.logger.warning(
                "extproc %s: handler failed at phase %d: %s",
                self.name, PHASES[kind], response.body.decode("utf-8", "replace"),
            )  # fmt: skip
            return self._failed(kind, side, "error", response.status_code, "", original, extra)
        answer: HandlerAnswer = response.value
        sets = answer.sets
        if extra:
            sets = [*sets, *extra]
        if self.options.update_duration_header and (
            kind == "response_headers" or (kind == "response_body" and not side.streamed)
        ):
            sets = [*sets, ("x-extproc-duration-ns", str(state.handler_ns).encode(), False)]
        status = answer.processing_status or (
            answer.status_code if self.by_status and answer.status_code != 200 else 0
        )
        if status:
            if kind == "response_body" and side.streamed:
                # The status went out with the headers (G6): the handler's body is all
                # that can still change.
                self.logger.warning(
                    "extproc %s: immediate %d asked after the response headers were sent "
                    "(STREAMED response body); sending its body instead. Use BUFFERED.",
                    self.name, status,
                )  # fmt: skip
                return common(kind, [], [], body=answer.body), "late_immediate"
            return immediate(status, answer.body, sets, self.details), "immediate"
        # At a headers phase there is no body to replace: a returned body is ignored.
        removes = answer.removes
        changed = "mutated" if sets or removes else "continue"
        if not body_phase:
            return common(kind, sets, removes), changed
        if not answer.body_given:
            return common(kind, sets, removes, body=original), changed
        new_body = answer.body
        if chunk or held or side.streamed:
            # STREAMED: Envoy drops content-length itself; keep the body's encoding.
            if decoded and encoding is not None:
                new_body = recompress(encoding.strip().lower(), new_body)
            return common(kind, [], [], body=new_body or None, clear=not new_body), "mutated"
        sets = [*sets, ("content-length", str(len(new_body)).encode(), False)]  # G1
        if decoded:
            removes = [*removes, "content-encoding"]  # G8: the new body is not compressed
        return common(kind, sets, removes, body=new_body or None, clear=not new_body), "mutated"

    def _failed(
        self,
        kind: str,
        side: _Side,
        outcome: str,
        status: Any,
        message: str,
        original: bytes | None,
        extra: list[tuple[str, bytes, bool]] | None,
    ) -> tuple[ep.ProcessingResponse, str]:
        late = kind == "response_body" and side.streamed  # the status already went out
        if self.reject_errors and not late:
            code = status if isinstance(status, int) and 400 <= status <= 599 else 500
            text = message or {"busy": "no worker available", "timeout": "handler timed out"}.get(
                outcome, "processing failed"
            )
            return immediate(code, text.encode(), [], self.details), outcome
        return common(kind, extra or [], [], body=original), outcome

    @staticmethod
    def _from_attributes(state: _Stream, request: ep.ProcessingRequest) -> None:
        for struct in request.attributes.values():
            fields = struct.fields
            if "request.method" in fields:
                state.method = fields["request.method"].string_value
            if "request.path" in fields:
                path, _, query = fields["request.path"].string_value.partition("?")
                state.path = path or "/"
                if query:
                    parsed = urllib.parse.parse_qs(query, keep_blank_values=True)
                    state.fields = {k: ",".join(v) for k, v in parsed.items()}
            if "request.id" in fields:
                state.request_id = fields["request.id"].string_value or state.request_id
