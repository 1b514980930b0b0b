"""Loopback addresses and free ports."""

from __future__ import annotations

import socket

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port on ``host`` that was free a moment ago (for servers that cannot bind port 0)."""
    if not host.startswith("127.") and host not in ("localhost", "::1"):
        raise ValueError(f"course servers bind loopback only, not {host!r}")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def require_loopback(host: str) -> str:
    """Refuse anything but a loopback address: course code never reaches outside the machine."""
    if host == "localhost" or host == "::1" or host.startswith("127."):
        return host
    raise ValueError(f"course servers and clients use loopback only, not {host!r}")
