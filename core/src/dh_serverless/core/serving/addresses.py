"""Listening addresses: how they are written and how a failure to bind one is worded.

Every listener of the serving layer writes an address as ``host:port``, with an IPv6 host
in brackets (``[::1]:8080``, :func:`~.limits.format_address`), and turns a failed bind into
one ``OSError`` that names the address, the protocol and the reason: ``cannot listen on
127.0.0.1:9000 (UDP): Address already in use``. The runtime reports an ``OSError`` from
``Trigger.start`` as a clean exit 1 naming the trigger, with no traceback.
"""

from __future__ import annotations

import socket

from dh_serverless.core.serving.limits import format_address

__all__ = ("bind_reason", "check_shared_port", "format_address", "listen_error")


def listen_error(host: str, port: int, what: str, reason: object) -> OSError:
    """The error a listener raises when ``host:port`` cannot be bound: an ``OSError`` (the
    runtime words it for the user, naming the trigger: ``trigger udp1 (udp) cannot start:
    cannot listen on ...``).

    :param what: the protocol or listener (``"gRPC"``, ``"TCP"``, ``"UDP"``).
    :param reason: an ``OSError`` (its ``strerror`` is used and its ``errno`` kept) or text.
    """
    errno = reason.errno if isinstance(reason, OSError) else None
    text = (reason.strerror or str(reason)) if isinstance(reason, OSError) else str(reason)
    message = f"cannot listen on {format_address(host, port)} ({what}): {text}"
    return OSError(errno, message) if errno is not None else OSError(message)


def check_shared_port(reuse_port: bool, host: str, port: int, what: str) -> None:
    """Refuse port ``0`` for a port several serving processes share (``SO_REUSEPORT``):
    each process would be given a different port.

    :raises OSError: ``cannot listen on HOST:0 (WHAT): port 0 cannot be shared ...``.
    """
    if reuse_port and port == 0:
        raise listen_error(
            host, port, what, "port 0 cannot be shared by several serving processes: set a port"
        )


def bind_reason(
    host: str, port: int, kind: socket.SocketKind = socket.SOCK_STREAM
) -> OSError | None:
    """Why ``host:port`` cannot be bound, found by binding a probe socket (then closed).

    For servers (such as gRPC's) that say only that a bind failed: the probe gives the
    operating system's reason (``Address already in use``), or ``None`` when it binds.
    """
    try:
        infos = socket.getaddrinfo(host or None, port, type=kind, flags=socket.AI_PASSIVE)
    except OSError as exc:
        return exc
    error: OSError | None = None
    for family, type_, proto, _, address in infos:
        try:
            with socket.socket(family, type_, proto) as probe:
                if kind == socket.SOCK_STREAM:  # as servers do: TIME_WAIT is not "in use"
                    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(address)
        except OSError as exc:
            error = exc
        else:
            return None
    return error
