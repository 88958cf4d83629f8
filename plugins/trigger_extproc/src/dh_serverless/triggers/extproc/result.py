"""What a handler returned, in the form the trigger turns into an Envoy reply.

:func:`convert_result` is the trigger's ``result_converter``: the core calls it where the
handler ran (loop, thread or worker process) instead of Nuclio's conversion. It returns a
``Converted`` whose ``value`` is a :class:`HandlerAnswer`, so the trigger tells a handler's
answer from the core's error response (handler raised: a plain ``Response``, status 500
with a ``bytes`` body), and it keeps
what Nuclio's conversion loses here: whether a body was given at all, header removals
(``None``), header appends (a list), ``bytes`` header values, and ``X-Processing-Status``.
"""

from __future__ import annotations

from typing import Any

from dh_serverless.core.api import encode_json
from dh_serverless.hookspecs import Converted, Response
from dh_serverless.triggers.extproc.headers import as_bytes, mutation_from_headers

__all__ = ("PROCESSING_STATUS", "HandlerAnswer", "convert_result")

#: The header a handler sets to answer at once with its value as the status (wrap: the
#: only way; pre and post: also for 200). It never reaches the client or the upstream.
PROCESSING_STATUS = "x-processing-status"
_TEXT = "text/plain"
_JSON = "application/json"
_NOT_MUTABLE = (PROCESSING_STATUS, "content-length")


class HandlerAnswer:
    """A handler's answer, the ``value`` of the ``Converted`` the core hands back (picklable,
    so it crosses to process workers and back).

    ``body`` is ``bytes``; ``body_given`` is False when the handler gave none (``None``:
    leave the message's body alone); ``sets``/``removes`` are the header mutation;
    ``processing_status`` is the ``X-Processing-Status`` value or 0.
    """

    __slots__ = ("body", "body_given", "processing_status", "removes", "sets", "status_code")

    def __init__(
        self,
        body: bytes,
        body_given: bool,
        status_code: int,
        sets: list[tuple[str, bytes, bool]],
        removes: list[str],
        processing_status: int,
    ) -> None:
        self.body = body
        self.body_given = body_given
        self.status_code = status_code
        self.sets = sets
        self.removes = removes
        self.processing_status = processing_status

    def __len__(self) -> int:
        return len(self.body)

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            HandlerAnswer,
            (
                self.body,
                self.body_given,
                self.status_code,
                self.sets,
                self.removes,
                self.processing_status,
            ),
        )

    def __repr__(self) -> str:
        return (
            f"HandlerAnswer(status={self.status_code}, body={self.body[:40]!r}, "
            f"sets={self.sets!r}, removes={self.removes!r}, "
            f"processing_status={self.processing_status})"
        )


def _answer(
    body: bytes,
    given: bool,
    status: int,
    content_type: str,
    sets: list[tuple[str, bytes, bool]],
    removes: list[str],
    processing_status: int,
) -> Response:
    answer = HandlerAnswer(body, given, status, sets, removes, processing_status)
    return Converted(answer, status, content_type=content_type)


def _status(value: Any, what: str) -> int:
    if isinstance(value, (bytes, str)) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if value == 0:
            return 200
        if 100 <= value <= 599:
            return value
    if value is None:
        return 200
    raise TypeError(f"the handler returned {what} {value!r}; expected an int from 100 to 599")


def _body(body: Any) -> tuple[bytes, bool, bool]:
    """``(bytes, given, json)``."""
    if body is None:
        return b"", False, False
    if isinstance(body, bytes):
        return body, True, False
    if isinstance(body, str):
        return body.encode("utf-8"), True, False
    if isinstance(body, (bytearray, memoryview)):
        return bytes(body), True, False
    if isinstance(body, (dict, list)):
        return encode_json(body), True, True
    return str(body).encode("utf-8"), True, False


def convert_result(result: Any) -> Response:
    """Turn a handler's return value into a ``Converted`` whose value is a :class:`HandlerAnswer`.

    ``str``/``bytes`` replace the body; ``dict``/``list`` replace it with JSON (and set
    ``content-type: application/json``); ``None`` changes nothing; ``(status, body)`` sets
    a status; a ``Response`` may also set headers (a value sets, a list appends, ``None``
    removes), a content type other than ``text/plain``, and ``X-Processing-Status``.
    """
    if isinstance(result, (str, bytes)):
        body, given, is_json = _body(result)
        return _answer(body, given, 200, _TEXT, [], [], 0)
    if result is None:
        return _answer(b"", False, 200, _TEXT, [], [], 0)
    if isinstance(result, (dict, list)):
        body = encode_json(result)
        return _answer(body, True, 200, _JSON, [("content-type", _JSON.encode(), False)], [], 0)
    if isinstance(result, tuple) and len(result) == 2:
        body, given, is_json = _body(result[1])
        content_type = _JSON if is_json else _TEXT
        sets = [("content-type", _JSON.encode(), False)] if is_json else []
        return _answer(body, given, _status(result[0], "status"), content_type, sets, [], 0)
    if isinstance(result, Response) or (
        hasattr(result, "status_code") and hasattr(result, "body") and hasattr(result, "headers")
    ):
        body, given, is_json = _body(result.body)
        headers = dict(result.headers or {})
        processing = 0
        for name in list(headers):
            if str(name).lower() == PROCESSING_STATUS:
                processing = _status(headers.pop(name), "X-Processing-Status")
        sets, removes = mutation_from_headers(headers, _NOT_MUTABLE)
        content_type = getattr(result, "content_type", None) or (_JSON if is_json else _TEXT)
        if content_type == _TEXT and is_json:
            content_type = _JSON
        if content_type != _TEXT and not any(s[0] == "content-type" for s in sets):
            sets.append(("content-type", as_bytes(content_type), False))
        return _answer(
            body,
            given,
            _status(result.status_code, "status code"),
            content_type,
            sets,
            removes,
            processing,
        )
    body = str(result).encode("utf-8")
    return _answer(body, True, 200, _TEXT, [], [], 0)
