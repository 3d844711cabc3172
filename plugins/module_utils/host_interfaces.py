# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Read a network interface's address on the managed node (ioctl; no iproute2 needed).

Shared by the swarm_host_info and swarm_preflight modules. Runs on managed nodes: Python 3.9 syntax.
"""

from __future__ import annotations

import fcntl
import socket
import struct

SIOCGIFADDR = 0x8915


def interface_ipv4(name: str) -> str | None:
    """The primary IPv4 address of an interface, or None (no such interface or no address)."""
    if not name or len(name) > 15:
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            packed = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, struct.pack("256s", name.encode()))
        except OSError:
            return None
    return socket.inet_ntoa(packed[20:24])
