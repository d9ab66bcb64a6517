"""Spare loopback ports for a scratch PBX, so it never takes the live PBX's."""

from __future__ import annotations

import random
import socket
from pathlib import Path

from telephony.deploy.files import DeployError

LOOPBACK = "127.0.0.1"

_EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")


def ephemeral_range(source: Path = _EPHEMERAL) -> tuple[int, int]:
    """The kernel's range for automatically chosen local ports (Linux's default when it
    cannot be read)."""
    try:
        low, high = (int(part) for part in source.read_text().split())
    except (OSError, ValueError):
        return 32768, 60999
    return low, high


def _candidates(source: Path) -> list[int]:
    # Above the kernel's ephemeral range first: a port from port 0 lies inside it, and
    # between our probe and the PBX's bind any outgoing connection (ours polling the
    # not yet listening port, even) may be given it; the PBX then never listens (seen
    # in CI: "Could not listen on 127.0.0.1:57708"). Below the range are RTP ports.
    low, high = ephemeral_range(source)
    above = list(range(max(high + 1, 1024), 65536))
    random.shuffle(above)
    inside = range(max(low, 1024), min(high, 65535) + 1)
    return above + random.sample(inside, min(200, len(inside)))


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, \
            socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
        try:
            udp.bind((LOOPBACK, port))
            tcp.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def spare_port(what: str, taken: set[int] | None = None, *,
               source: Path = _EPHEMERAL) -> int:
    """A loopback port free for both UDP and TCP just now (SIP binds both), outside the
    kernel's ephemeral range where it can, and not in `taken` (the ports a caller has
    already chosen but not yet bound; the choice is added to it); DeployError naming
    `what` when none is found."""
    for port in _candidates(source):
        if taken is not None and port in taken:
            continue
        if _free(port):
            if taken is not None:
                taken.add(port)
            return port
    raise DeployError(what, "no spare loopback port for the scratch PBX")
