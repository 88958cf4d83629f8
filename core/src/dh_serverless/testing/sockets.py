"""The ports a process listens on, read from Linux's ``/proc`` (no peer, no guessing).

A trigger configured with ``port: 0`` binds whatever port the kernel gives it; a test
asks which it got with :func:`listening_ports` (``pid`` ``None`` is this process), taken
before and after the trigger starts.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ("listening_ports",)

_TCP_LISTEN = "0A"
_UDP_UNCONNECTED = "07"  # a bound UDP socket with no peer: a datagram listener


def _socket_inodes(pid: int | str) -> set[str]:
    inodes: set[str] = set()
    fds = Path(f"/proc/{pid}/fd")
    try:
        entries = list(fds.iterdir())
    except OSError:
        return inodes
    for entry in entries:
        try:
            target = os.readlink(entry)
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def listening_ports(pid: int | None = None, *, udp: bool = True) -> set[int]:
    """The TCP ports ``pid`` (default: this process) listens on, IPv4 and IPv6, and with
    ``udp`` the UDP ports it bound without a peer. Linux only (``/proc``)."""
    who = "self" if pid is None else pid
    inodes = _socket_inodes(who)
    tables = [("tcp", _TCP_LISTEN), ("tcp6", _TCP_LISTEN)]
    if udp:
        tables += [("udp", _UDP_UNCONNECTED), ("udp6", _UDP_UNCONNECTED)]
    ports = set()
    for table, state in tables:
        try:
            lines = Path(f"/proc/{who}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == state and fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports
