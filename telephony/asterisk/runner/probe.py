"""A minimal AMI login check: is Asterisk up and does it accept the site's user?

Only for waiting on a start; the engine's AMI client lives in `telephony.asterisk.ami`.
"""

from __future__ import annotations

import socket
from enum import Enum


class LoginResult(Enum):
    """How one AMI login attempt went."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    UNREACHABLE = "unreachable"


class _Reader:
    """Bytes from a socket, handed out up to a marker; the rest is kept for later."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = b""

    def until(self, marker: bytes, limit: int = 1 << 20) -> bytes:
        while marker not in self._buffer:
            chunk = self._sock.recv(4096)
            if not chunk or len(self._buffer) > limit:
                raise ConnectionError("AMI closed the connection")
            self._buffer += chunk
        head, _, self._buffer = self._buffer.partition(marker)
        return head


def ami_login(
    host: str, port: int, username: str, secret: str, timeout: float = 3.0
) -> LoginResult:
    """Log in (events off) and log off again; never raises for network errors."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            reader = _Reader(sock)
            if not reader.until(b"\r\n").startswith(b"Asterisk Call Manager/"):
                return LoginResult.UNREACHABLE
            login = (
                "Action: Login\r\nActionID: telephony-pbx-probe\r\n"
                f"Username: {username}\r\nSecret: {secret}\r\nEvents: off\r\n\r\n"
            )
            sock.sendall(login.encode())
            reply = reader.until(b"\r\n\r\n").split(b"\r\n")
            if b"Response: Success" not in reply:
                return LoginResult.REJECTED
            sock.sendall(b"Action: Logoff\r\nActionID: telephony-pbx-probe\r\n\r\n")
            return LoginResult.ACCEPTED
    except (OSError, ConnectionError):
        return LoginResult.UNREACHABLE


def ami_banner(host: str, port: int, timeout: float = 3.0) -> bool:
    """True when something at host:port greets like Asterisk's AMI."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            return _Reader(sock).until(b"\r\n").startswith(b"Asterisk Call Manager/")
    except (OSError, ConnectionError):
        return False


def tcp_port_in_use(host: str, port: int) -> bool:
    """True when something already listens on host:port (TCP)."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def udp_port_in_use(host: str, port: int) -> bool:
    """True when host:port (UDP) cannot be bound, i.e. someone else holds it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False
