"""Ports for tests: taken from the operating system, never fixed."""

from __future__ import annotations

import socket

__all__ = ("free_port",)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now (the kernel picks it).

    Tests running in parallel each get their own; bind the port soon after asking.
    """
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
