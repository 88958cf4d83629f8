"""Which addresses ICE uses: the interfaces gathered on, the candidates kept and announced.

aiortc (through aioice) gathers host candidates on every interface but loopback and offers
no setting to choose them. :func:`gather_on` limits the gathering done inside a
``with`` block (of the current task) to given addresses, by wrapping aioice's
``get_host_addresses`` once per process; everything outside such a block gathers as
aioice always does.
"""

from __future__ import annotations

import contextlib
import contextvars
import ipaddress
from collections.abc import Iterator, Sequence

import aioice.ice

__all__ = ("announce", "gather_on", "host_addresses", "is_loopback", "keep_reachable")

_ONLY: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar(
    "dh_webrtc_gather_on", default=None
)
_original = aioice.ice.get_host_addresses


def _host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    only = _ONLY.get()
    if only is None:
        return _original(use_ipv4, use_ipv6)
    return [a for a in only if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]


def host_addresses() -> list[str]:
    """The addresses aioice gathers on by itself: every interface's but loopback."""
    return _original(True, True)


@contextlib.contextmanager
def gather_on(addresses: Sequence[str] | None) -> Iterator[None]:
    """Gather host candidates on ``addresses`` only (``None``: every interface).

    Loopback addresses are allowed here (aioice skips them otherwise).
    """
    if aioice.ice.get_host_addresses is not _host_addresses:
        aioice.ice.get_host_addresses = _host_addresses
    token = _ONLY.set(None if addresses is None else tuple(addresses))
    try:
        yield
    finally:
        _ONLY.reset(token)


def is_loopback(address: str) -> bool:
    """Whether ``address`` is an IP address on the loopback network."""
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _candidate_address(line: str) -> str | None:
    # a=candidate:<foundation> <component> <transport> <priority> <address> <port> typ ...
    parts = line.split()
    return parts[4] if len(parts) >= 8 else None


def keep_reachable(sdp: str, local: Sequence[str] | None) -> str:
    """``sdp`` without the remote candidates that ``local`` addresses cannot reach.

    When every local address is a loopback address, a remote candidate elsewhere (another
    interface, an mDNS name) can never answer: it is removed before aioice would send
    checks to it or resolve its name on the network.
    """
    if not local or not all(is_loopback(a) for a in local):
        return sdp
    lines = sdp.splitlines()
    kept = [
        line
        for line in lines
        if not line.startswith("a=candidate:") or is_loopback(_candidate_address(line) or "")
    ]
    return "\r\n".join(kept) + "\r\n"


def announce(sdp: str, hosts: Sequence[str]) -> str:
    """``sdp`` with each host candidate also offered on each of ``hosts`` (same port).

    For an address that reaches this machine one to one (a NAT or a container's published
    port range): the viewer tries it beside the addresses gathered here.
    """
    if not hosts:
        return sdp
    out: list[str] = []
    for line in sdp.splitlines():
        out.append(line)
        parts = line.split()
        if not line.startswith("a=candidate:") or len(parts) < 8 or parts[7] != "host":
            continue
        family = ":" in parts[4]
        for n, host in enumerate(hosts):
            if (":" in host) != family or host == parts[4]:
                continue
            foundation = parts[0].split(":", 1)[1]
            extra = [f"a=candidate:{foundation}x{n}", *parts[1:]]
            extra[3] = str(max(int(parts[3]) - 1 - n, 1)) if parts[3].isdigit() else parts[3]
            extra[4] = host
            out.append(" ".join(extra))
    return "\r\n".join(out) + "\r\n"
