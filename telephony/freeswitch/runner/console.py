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

from telephony.freeswitch.esl import (
    NEED_DATA,
    ApiResponse,
    AuthRequest,
    Command,
    CommandReply,
    DisconnectNotice,
    EslProtocol,
    InvalidCommand,
    Message,
    NeedData,
    ProtocolError,
    RudeRejection,
)
from telephony.pbx.errors import PbxError


class LoginResult(Enum):
    """How one Event Socket login attempt went."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    UNREACHABLE = "unreachable"


class ConsoleError(PbxError):
    """The Event Socket could not be reached, refused us, or answered nonsense."""


class Console:
    """One authenticated Event Socket connection; `api()` runs commands on it."""

    def __init__(self, host: str, port: int, password: str, timeout: float = 10.0) -> None:
        self._where = f"{host}:{port}"
        try:
            self._sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise ConsoleError(f"no Event Socket at {self._where}: {exc.strerror or exc}") from None
        self._sock.settimeout(timeout)
        self._core = EslProtocol()
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

    def _next(self) -> Message:
        # The engine's sans-I/O core frames the bytes here too: one parser, fed by a
        # blocking socket instead of asyncio.
        try:
            while (message := self._core.next_message()) is NEED_DATA:
                chunk = self._sock.recv(65536)
                if not chunk:
                    raise ConnectionError("the Event Socket closed the connection")
                self._core.receive_data(chunk)
        except (OSError, ConnectionError, ProtocolError) as exc:
            raise ConsoleError(f"Event Socket at {self._where}: {exc}") from None
        assert not isinstance(message, NeedData)
        return message

    def _login(self, password: str) -> None:
        if not isinstance(self._next(), AuthRequest):
            raise ConsoleError(f"{self._where} does not greet like FreeSWITCH's Event Socket")
        self._send(Command(f"auth {password}"))
        reply = self._next()
        if not (isinstance(reply, CommandReply) and reply.ok):
            raise LoginRefused(f"the Event Socket at {self._where} refused the site's password")

    def _send(self, command: Command) -> None:
        try:
            self._core.send(command)
        except InvalidCommand:
            raise ValueError("an Event Socket command is one line") from None
        try:
            self._sock.sendall(self._core.data_to_send())
        except OSError as exc:
            raise ConsoleError(f"Event Socket at {self._where}: {exc.strerror or exc}") from None

    def api(self, command: str) -> str:
        """The output of an API command (what fs_cli -x prints)."""
        self._send(Command(f"api {command}"))
        while True:
            message = self._next()
            if isinstance(message, ApiResponse):
                return message.body
            if isinstance(message, DisconnectNotice | RudeRejection):
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
