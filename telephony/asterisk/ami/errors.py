"""Exceptions raised by the AMI adapter.

The hierarchy says whose fault a failure is: ``InvalidAction`` is local misuse,
``ProtocolError`` is the remote peer misbehaving, ``AmiTimeout`` and
``AmiConnectionError`` are the network or the PBX going away, ``AmiAuthError`` is
wrong credentials and ``AmiActionError`` is Asterisk refusing an action.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from telephony.asterisk.ami.events import Response


class AmiError(Exception):
    """Base class of every error raised by ``telephony.asterisk.ami``."""


class ProtocolError(AmiError):
    """The peer sent bytes that are not valid AMI (remote misbehaviour)."""


class InvalidAction(AmiError, ValueError):
    """An action cannot be serialised safely (local misuse), e.g. CR/LF in a header."""


class AmiConnectionError(AmiError):
    """The TCP connection could not be opened or was lost.

    Actions pending when the connection drops fail with this error; the original
    cause (an ``OSError`` or ``None`` for an orderly EOF) is chained as ``__cause__``.
    """


class AmiAuthError(AmiConnectionError):
    """Asterisk rejected the Login (wrong username or secret). Never retried."""


class AmiFilterError(AmiConnectionError):
    """Asterisk refused the server-side event filter of a client with ``wanted_events``.

    Never retried and never ignored: without the filter the connection would carry
    every event (about 146 per call), which is exactly what the filter is there to
    prevent. Typical causes: the AMI user lacks ``write=system`` (the ``Filter``
    action needs it), or the PBX does not know ``MatchCriteria: name(...)``.
    """


class InvalidSubscription(AmiError, ValueError):
    """A subscription or event wait names events the client's filter keeps out.

    Local misuse: such a subscriber would silently never hear of those events, so
    the names must be added to the client's ``wanted_events`` instead.
    """


class AmiTimeout(AmiError, TimeoutError):
    """No answer within the configured time (action, list, connect or event wait)."""


class AmiActionError(AmiError):
    """Asterisk answered ``Response: Error`` and the caller asked for ``check()``."""

    def __init__(self, response: Response, action: str | None = None) -> None:
        self.response = response
        self.action = action
        what = f"{action} failed" if action else "action failed"
        detail = response.message or response.status
        if response.output:  # e.g. Command: "No such command ..."
            detail = f"{detail}: {response.output[0]}"
        super().__init__(f"{what}: {detail}")
