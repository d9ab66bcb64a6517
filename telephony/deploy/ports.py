"""Spare loopback ports for a scratch PBX, so it never takes the live PBX's."""

from __future__ import annotations

import socket

from telephony.deploy.files import DeployError

LOOPBACK = "127.0.0.1"


def spare_port(what: str) -> int:
    """A loopback port free for both UDP and TCP just now (SIP binds both); DeployError
    naming `what` when none is found."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((LOOPBACK, 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((LOOPBACK, port))
                except OSError:
                    continue
                return port
    raise DeployError(what, "no spare loopback port for the scratch PBX")
