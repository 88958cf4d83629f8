"""The ``attributes`` of a ``websocket`` trigger, as the original's ``function.yaml``
writes them.

``function.yaml``::

    triggers:
      myWebsocketTrigger:
        kind: websocket
        numWorkers: 2
        attributes:
          websocket_addr: :9001
          is_stream: true
          processing_interval: 2000
          chunk_bytes: 160000
          max_bytes: 1440000
          trim_bytes: 1120000

Keys match ignoring case and underscores (``websocket_addr``, ``websocketAddr``).
``processing_interval`` is milliseconds as a number (the original's unit) or a Go
duration as text (``"2s"``, ``"500ms"``).
"""

from __future__ import annotations

from typing import Any, NewType

import attrs
import cattrs

from dh_serverless.core.api import CONVERTER, RollingBuffer, parse_go_duration, validators
from dh_serverless.triggers.websocket.address import ListenAddress, parse_listen_address

__all__ = ("Interval", "WebsocketTriggerAttributes", "register_converters")

#: Seconds; written as milliseconds (a number) or a Go duration (text).
Interval = NewType("Interval", float)


def _structure_interval(value: Any, _: type) -> Interval:
    if isinstance(value, str):
        seconds = parse_go_duration(value)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = value / 1000
    else:
        raise TypeError(
            f"expected milliseconds (2000) or a Go duration ('2s'), got {type(value).__name__}"
            f" {value!r}"
        )
    return Interval(float(seconds))


def register_converters(converter: cattrs.Converter) -> None:
    """Teach ``converter`` the trigger's own types (:data:`Interval`)."""
    converter.register_structure_hook(Interval, _structure_interval)


register_converters(CONVERTER)


def _check_address(_: Any, __: attrs.Attribute[str], value: str) -> None:
    try:
        parse_listen_address(value)
    except ValueError as exc:
        raise ValueError(f"websocket_addr: {exc}") from None


def _check_interval(_: Any, __: attrs.Attribute[Interval], value: Interval) -> None:
    if not value > 0:
        raise ValueError(f"processing_interval must be greater than 0, got {value * 1000:g} ms")


@attrs.frozen
class WebsocketTriggerAttributes:
    """``spec.triggers.<name>.attributes`` of a ``websocket`` trigger.

    :param websocket_addr: where to listen, Go's form: ``:9001`` (every interface),
        ``127.0.0.1:9001``, ``[::1]:9001``; clients connect to ``ws://<addr>/ws``.
    :param is_stream: ``false``: discrete mode, the latest message of a client is handled
        every interval; ``true``: stream mode, a client's messages are appended to its
        rolling buffer, handed to the handler whole every interval once ``chunk_bytes``
        new bytes arrived.
    :param processing_interval: how often each client's data is looked at.
    :param chunk_bytes: stream mode: new bytes needed before the handler is called again.
    :param max_bytes: stream mode: the most bytes a client's buffer holds.
    :param trim_bytes: stream mode: bytes dropped from the front when the buffer is full.
    :param max_message_bytes: the largest message a client may send; a larger one closes
        that client (1009). Unset: ``max_bytes``.
    """

    websocket_addr: str = attrs.field(validator=_check_address)
    is_stream: bool = False
    processing_interval: Interval = attrs.field(default=Interval(2.0), validator=_check_interval)
    chunk_bytes: int = 160000
    max_bytes: int = 1440000
    trim_bytes: int = 1120000
    max_message_bytes: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(validators.positive())
    )

    def __attrs_post_init__(self) -> None:
        RollingBuffer(self.chunk_bytes, self.max_bytes, self.trim_bytes)  # same checks

    @property
    def address(self) -> ListenAddress:
        """``websocket_addr`` parsed."""
        return parse_listen_address(self.websocket_addr)

    @property
    def message_limit(self) -> int:
        """The largest message accepted, in bytes."""
        return self.max_message_bytes or self.max_bytes
