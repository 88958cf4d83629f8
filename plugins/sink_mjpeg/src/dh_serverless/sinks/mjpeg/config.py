"""The ``attributes`` of an ``mjpeg`` sink.

``function.yaml`` (inside a trigger's attributes)::

    sink:
      kind: mjpeg
      attributes:
        port: 8081
        path: /stream

Keys match ignoring case and underscores. ``writeTimeout`` is a Go duration or seconds.
"""

from __future__ import annotations

from typing import Any

import attrs

from dh_serverless.core.api import Duration, validators

__all__ = ("RESERVED_PATHS", "MjpegSinkAttributes")

#: served by the sink itself: the viewer page and its statistics
RESERVED_PATHS = ("/", "/stats")


def _check_boundary(_: Any, __: attrs.Attribute[str], value: str) -> None:
    if not 1 <= len(value) <= 70 or not all(c.isalnum() or c in "'()+_,-./:=?" for c in value):
        raise ValueError(f"boundary must be 1 to 70 letters, digits or '()+_,-./:=?, got {value!r}")


@attrs.frozen
class MjpegSinkAttributes:
    """``attributes`` of an ``mjpeg`` sink.

    :param port: the TCP port viewers connect to (``0``: any free port).
    :param host: the address to listen on.
    :param path: the stream's path (``GET /`` is the viewer page, ``GET /stats`` its data).
    :param boundary: the multipart boundary written between frames.
    :param max_viewers: more concurrent viewers are answered 503.
    :param send_buffer: the kernel send buffer per viewer, in bytes; a viewer that cannot
        take frames as fast as they come skips frames instead of queueing them here.
    :param write_timeout: a viewer that accepts no data for this long is disconnected.
    """

    port: int = attrs.field(default=8081, validator=validators.port())
    host: str = "0.0.0.0"
    path: str = attrs.field(default="/stream", validator=validators.path(reserved=RESERVED_PATHS))
    boundary: str = attrs.field(default="frame", validator=_check_boundary)
    max_viewers: int = attrs.field(default=64, validator=validators.positive("maxViewers"))
    send_buffer: int = attrs.field(default=256 * 1024, validator=validators.positive("sendBuffer"))
    write_timeout: Duration = attrs.field(
        default=Duration(10.0), validator=validators.positive("writeTimeout")
    )
