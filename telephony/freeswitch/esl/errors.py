"""Exceptions raised by the FreeSWITCH Event Socket adapter.

The hierarchy says whose fault a failure is, as the AMI one does:
``InvalidCommand`` and ``InvalidSubscription`` are local misuse, ``ProtocolError``
is the peer sending bytes that are not ESL, ``EslTimeout`` and
``EslConnectionError`` are the network or FreeSWITCH going away, ``EslAuthError``
is a wrong password (or an ACL refusing us) and ``EslCommandError`` is FreeSWITCH
refusing a command.
"""

from __future__ import annotations


class EslError(Exception):
    """Base class of every error raised by ``telephony.freeswitch.esl``."""


class ProtocolError(EslError):
    """The peer sent bytes that are not valid Event Socket framing (remote misbehaviour)."""


class InvalidCommand(EslError, ValueError):
    """A command cannot be sent safely (local misuse), e.g. CR or LF in an argument."""


class InvalidSubscription(EslError, ValueError):
    """A subscription names events this client never asks FreeSWITCH for (local misuse)."""


class EslConnectionError(EslError):
    """The TCP connection could not be opened or was lost.

    Commands pending when the connection drops fail with this error, the original
    cause (an ``OSError``, a :class:`ProtocolError`, or a ``ConnectionResetError``
    standing for an orderly close) chained as ``__cause__``. They are never re-sent.
    """


class EslAuthError(EslConnectionError):
    """FreeSWITCH refused the password (``-ERR invalid``) or its ACL refused us. Never retried."""


class EslTimeout(EslError, TimeoutError):
    """No answer within the configured time (command, job, connect or event wait)."""


class EslCommandError(EslError):
    """FreeSWITCH answered a command with ``-ERR`` (or an api body with ``-ERR``/``-USAGE``)."""

    def __init__(self, command: str, reply: str) -> None:
        self.command = command
        self.reply = reply
        super().__init__(f"{command!r} failed: {reply.strip()}")
