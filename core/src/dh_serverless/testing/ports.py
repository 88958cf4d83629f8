"""Ports for tests: never fixed, never one that another test may be handed meanwhile.

A port the kernel picks for ``bind(("", 0))`` comes from the ephemeral range
(``net.ipv4.ip_local_port_range``, 32768-60999 by default), the same range every outgoing
connection takes its source port from: between the moment a test asks for a port and the
moment its server binds it, any client on the machine (curl, a peer, another test) may take
it, and the server fails with "Address already in use". :func:`free_port` therefore hands out
ports *below* that range, where the kernel never picks on its own, from a slice of its own to
each pytest-xdist worker (so parallel workers never pick the same one), in turn (so one test
asking for three ports gets three), each checked free for TCP and UDP right then.
"""

from __future__ import annotations

import itertools
import os
import random
import socket
from collections.abc import Iterator
from pathlib import Path

__all__ = ("free_port",)

#: The lowest port handed out: above the registered services most machines run.
FIRST = 20000


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _slice() -> range:
    """This process's ports: one slice of [FIRST, ephemeral start) per xdist worker."""
    last = max(_ephemeral_start(), FIRST + 1024)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    count = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1))
    index = int(worker) % count if worker.isdigit() else 0
    size = (last - FIRST) // count
    return range(FIRST + index * size, FIRST + (index + 1) * size)


def _candidates() -> Iterator[int]:
    ports = _slice()
    start = random.randrange(len(ports))  # other runs start elsewhere
    return itertools.cycle([*ports[start:], *ports[:start]])


_next: Iterator[int] | None = None


def _is_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(family, kind) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port on ``host`` that nothing uses (TCP or UDP) and that no other test is handed.

    Outside the kernel's ephemeral range, so no outgoing connection takes it before the
    test binds it; one slice per pytest-xdist worker, handed out in turn.
    """
    global _next
    if _next is None:
        _next = _candidates()
    for _ in range(4096):
        port = next(_next)
        if _is_free(host, port):
            return port
    raise OSError(f"no free port on {host} in {_slice()}")
