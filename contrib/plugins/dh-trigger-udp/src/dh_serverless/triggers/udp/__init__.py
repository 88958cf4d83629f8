"""dh-trigger-udp: each UDP datagram is an event; a successful answer goes back to its sender."""

from __future__ import annotations

from dh_serverless.triggers.udp.trigger import UdpAttributes, UdpTrigger
from dh_serverless.triggers.udp.version import __version__

__all__ = ("UdpAttributes", "UdpTrigger", "__version__")
