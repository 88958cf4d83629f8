"""Nuclio's rules for event bodies and handler results, with the documented fixes.

``decode_body`` is the one body-decoding rule every trigger uses; ``to_response``
turns whatever a handler returned into a :class:`Response` whose ``body`` is bytes.
Differences from Nuclio 1.14 are listed in ``docs/nuclio-compatibility.md``.
"""

from __future__ import annotations

import json
import math
import traceback
from typing import Any

from dh_serverless.hookspecs.types import Response

__all__ = ("MAX_ECHO", "cap_text", "decode_body", "encode_json", "error_response", "to_response")

#: the most characters of a client's input an error answer echoes back
MAX_ECHO = 1024


def cap_text(text: str, limit: int = MAX_ECHO) -> str:
    """``text`` cut to about ``limit`` characters, saying how much was left out.

    Every error answer that quotes what a client sent (a name, a header, a parse error)
    goes through this: 100 KB of bad input never comes back as 100 KB of error.
    """
    if len(text) <= limit:
        return text
    keep = max(0, limit - 40)
    return f"{text[:keep]}... ({len(text) - keep} more characters)"


_TEXT = "text/plain"
_JSON = "application/json"
_json_loads = json.loads


def _default(value: Any) -> Any:
    # nuclio-sdk's encoder: ``__log__()``, else ``repr()``, else ``str()``.
    try:
        return value.__log__()
    except Exception:  # noqa: BLE001
        try:
            return repr(value)
        except Exception:  # noqa: BLE001
            return str(value)


_encoder = json.JSONEncoder(ensure_ascii=True, allow_nan=False, default=_default)


def decode_body(content_type: str | None, raw: bytes) -> Any:
    """The body a handler sees: decoded JSON only for exactly ``application/json``.

    Any other content type, an empty body or invalid JSON keeps the raw ``bytes``.
    """
    if content_type == _JSON and raw:
        try:
            return _json_loads(raw)
        except (ValueError, RecursionError):  # deeply nested arrays raise RecursionError
            return raw
    return raw


def _nan_to_str(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _nan_to_str(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_to_str(v) for v in value]
    return value


def encode_json(value: Any) -> bytes:
    """JSON as nuclio-sdk writes it: ``", "``/``": "`` separators, ASCII only, NaN as
    the string ``"NaN"`` and objects JSON cannot write as their ``repr()``."""
    try:
        text = _encoder.encode(value)
    except ValueError as exc:  # NaN or infinity somewhere: rare, so walk only then
        if "ircular" in str(exc):
            raise ValueError(
                "the handler returned a dict or list that contains itself; JSON cannot "
                "encode a circular structure"
            ) from None
        try:
            text = _encoder.encode(_nan_to_str(value))
        except RecursionError:
            raise ValueError(
                "the handler returned a structure nested too deeply to encode as JSON"
            ) from None
    except RecursionError:
        raise ValueError(
            "the handler returned a structure nested too deeply to encode as JSON"
        ) from None
    return text.encode("ascii")


def _body_bytes(body: Any) -> tuple[bytes, bool]:
    """Encode a body; the flag says it was JSON-encoded."""
    if isinstance(body, bytes):
        return body, False
    if isinstance(body, str):
        return body.encode("utf-8"), False
    if body is None:
        return b"", False
    if isinstance(body, (dict, list)):
        return encode_json(body), True
    if isinstance(body, (bytearray, memoryview)):
        return bytes(body), False
    return str(body).encode("utf-8"), False


def _is_response(result: Any) -> bool:
    # Duck-typed so nuclio_sdk.Response (and look-alikes) convert like ours.
    return isinstance(result, Response) or (
        hasattr(result, "status_code")
        and hasattr(result, "body")
        and hasattr(result, "content_type")
    )


def _check_status(status: Any) -> int:
    if isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599:
        return status
    if status is None or (status == 0 and not isinstance(status, bool)):
        return 200  # Nuclio leaves the status at 200 for 0 and None
    raise TypeError(f"the handler returned status code {status!r}; expected an int from 100 to 599")


def to_response(result: Any) -> Response:
    """Convert a handler's return value into a Response with a ``bytes`` body.

    ``str`` and ``bytes`` become ``text/plain``; ``dict`` and ``list`` become JSON;
    ``(status, body)`` sets the status; a ``Response`` keeps its status, headers and
    content type (a dict or list body is JSON-encoded as ``application/json`` unless a
    content type other than ``text/plain`` was set); ``None`` is an empty 200. Raises
    ``TypeError`` for an invalid status code.
    """
    if isinstance(result, str):
        return Response(body=result.encode("utf-8"), content_type=_TEXT)
    if isinstance(result, bytes):
        return Response(body=result, content_type=_TEXT)
    if isinstance(result, (dict, list)):
        return Response(body=encode_json(result), content_type=_JSON)
    if result is None:
        return Response(body=b"", content_type=_TEXT)
    if type(result) is Response:
        # Already in converted form (bytes, no headers, an int status): used as it is.
        status = result.status_code
        if (
            type(result.body) is bytes
            and not result.headers
            and type(status) is int
            and 100 <= status <= 599
            and result.event_id is None
        ):
            return result
    if _is_response(result):
        body, is_json = _body_bytes(result.body)
        content_type = result.content_type or _TEXT
        if is_json and content_type == _TEXT:
            content_type = _JSON
        headers = result.headers
        if headers:
            headers = {
                str(k): str(v) for k, v in headers.items() if str(k).lower() != "content-type"
            }
        return Response(
            headers=headers,
            body=body,
            content_type=content_type,
            status_code=_check_status(result.status_code),
        )
    if isinstance(result, tuple) and len(result) == 2:
        status = _check_status(result[0])
        payload = result[1]
        if isinstance(payload, (str, bytes, bytearray, memoryview)):
            body, _ = _body_bytes(payload)
            return Response(body=body, content_type=_TEXT, status_code=status)
        # As nuclio-sdk: any other body (None, numbers, objects) is written as JSON.
        return Response(body=encode_json(payload), content_type=_JSON, status_code=status)
    body, is_json = _body_bytes(result)
    return Response(body=body, content_type=_JSON if is_json else _TEXT)


def error_response(exc: BaseException, *, debug: bool = False) -> Response:
    """The answer to a handler that raised.

    ``ExceptionWithResponse`` (nuclio-sdk's, or anything with an int ``status_code``
    and a ``body``) is honoured. Otherwise 500 with ``<Type>: <message>``; with
    ``debug`` the body is Nuclio's, traceback included.
    """
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and hasattr(exc, "body"):
        try:
            return to_response(
                Response(
                    body=exc.body,
                    content_type=getattr(exc, "content_type", None) or _TEXT,
                    status_code=status,
                )
            )
        except TypeError:
            pass
    if debug:
        text = f'Exception caught in handler - "{exc}": ' + "".join(
            traceback.format_exception(type(exc), exc, exc.__traceback__)
        )
    else:
        message = str(exc)
        text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return Response(body=text.encode("utf-8"), content_type=_TEXT, status_code=500)
