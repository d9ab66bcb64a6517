"""A blocking Event Socket connection for the runner: is FreeSWITCH up, does it accept
the site's password, and the output of one API command.

Only for starting, stopping and the `pbx cli` command; the engine's asyncio client is
`telephony.freeswitch.esl`.
"""

from __future__ import annotations

import socket
from enum import Enum
from types import TracebackType
from typing import Self

from telephony.pbx.errors import PbxError

# A frame's header block is a few hundred bytes; an API body (`show channels` on a
# busy switch) can be large, but not this large.
_MAX_HEADER = 64 * 1024
_MAX_BODY = 64 * 1024 * 1024


class LoginResult(Enum):
    """How one Event Socket login attempt went."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    UNREACHABLE = "unreachable"


class ConsoleError(PbxError):
    """The Event Socket could not be reached, refused us, or answered nonsense."""


class _Frames:
    """Frames from a socket: `Name: value` lines, an empty line, then Content-Length
    bytes of body. Bytes are kept until a frame is whole and decoded once."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = b""

    def _fill(self) -> None:
        chunk = self._sock.recv(65536)
        if not chunk:
            raise ConnectionError("the Event Socket closed the connection")
        self._buffer += chunk

    def next(self) -> tuple[dict[str, str], str]:
        while b"\n\n" not in self._buffer:
            if len(self._buffer) > _MAX_HEADER:
                raise ConnectionError("an Event Socket header block without an end")
            self._fill()
        head, _, self._buffer = self._buffer.partition(b"\n\n")
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\n"):
            name, sep, value = line.partition(": ")
            if not sep:
                raise ConnectionError(f"not an Event Socket header line: {line[:60]!r}")
            headers[name] = value
        length = headers.get("Content-Length", "0")
        if not length.isdigit() or int(length) > _MAX_BODY:
            raise ConnectionError(f"bad Content-Length {length[:20]!r}")
        while len(self._buffer) < int(length):
            self._fill()
        body, self._buffer = self._buffer[: int(length)], self._buffer[int(length):]
        return headers, body.decode("utf-8", "replace")


class Console:
    """One authenticated Event Socket connection; `api()` runs commands on it."""

    def __init__(self, host: str, port: int, password: str, timeout: float = 10.0) -> None:
        self._where = f"{host}:{port}"
        try:
            self._sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise ConsoleError(f"no Event Socket at {self._where}: {exc.strerror or exc}") from None
        self._sock.settimeout(timeout)
        self._frames = _Frames(self._sock)
        try:
            self._login(password)
        except BaseException:
            self._sock.close()
            raise

    def __repr__(self) -> str:
        return f"<Console {self._where}>"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _next(self) -> tuple[dict[str, str], str]:
        try:
            return self._frames.next()
        except (OSError, ConnectionError) as exc:
            raise ConsoleError(f"Event Socket at {self._where}: {exc}") from None

    def _login(self, password: str) -> None:
        headers, _ = self._next()
        if headers.get("Content-Type") != "auth/request":
            raise ConsoleError(f"{self._where} does not greet like FreeSWITCH's Event Socket")
        self._send(f"auth {password}")
        headers, _ = self._next()
        if not headers.get("Reply-Text", "").startswith("+OK"):
            raise LoginRefused(f"the Event Socket at {self._where} refused the site's password")

    def _send(self, line: str) -> None:
        if "\n" in line or "\r" in line:
            raise ValueError("an Event Socket command is one line")
        try:
            self._sock.sendall(line.encode("utf-8") + b"\n\n")
        except OSError as exc:
            raise ConsoleError(f"Event Socket at {self._where}: {exc.strerror or exc}") from None

    def api(self, command: str) -> str:
        """The output of an API command (what fs_cli -x prints)."""
        self._send(f"api {command}")
        while True:
            headers, body = self._next()
            if headers.get("Content-Type") == "api/response":
                return body
            if headers.get("Content-Type") == "text/disconnect-notice":
                raise ConsoleError(f"the Event Socket at {self._where} hung up on `{command}`")

    def close(self) -> None:
        self._sock.close()


class LoginRefused(ConsoleError):
    """The Event Socket answered, and refused the password."""


def login(host: str, port: int, password: str, timeout: float = 3.0) -> LoginResult:
    """Log in and out again; never raises for network errors."""
    try:
        with Console(host, port, password, timeout):
            return LoginResult.ACCEPTED
    except LoginRefused:
        return LoginResult.REJECTED
    except ConsoleError:
        return LoginResult.UNREACHABLE


def api(host: str, port: int, password: str, command: str, timeout: float = 30.0) -> str:
    """One API command on its own connection."""
    with Console(host, port, password, timeout) as console:
        return console.api(command)
