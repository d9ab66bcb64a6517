"""The seam between the engine and a PBX: one protocol, implemented once per kind of PBX.

The engine depends only on :class:`PbxPort` and the neutral words of
:mod:`telephony.port.model`. `telephony.asterisk.port` drives Asterisk through AMI,
`telephony.freeswitch.port` drives FreeSWITCH through the Event Socket, and
:class:`telephony.port.memory.MemoryPort` is an in-memory PBX for fast engine tests
(never evidence of PBX behaviour: every behaviour is also tested on the real PBXs).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Protocol

from telephony.port.model import (
    Change,
    ChangeKind,
    Command,
    DeleteKey,
    Family,
    Hold,
    Join,
    Key,
    Leave,
    LiveCall,
    Member,
    MemberState,
    Presence,
    Publish,
    PutKey,
    SetHold,
    SetLevel,
    Snapshot,
)

__all__ = [
    "Change",
    "ChangeKind",
    "Command",
    "DeleteKey",
    "Family",
    "Hold",
    "Join",
    "Key",
    "Leave",
    "LiveCall",
    "Member",
    "MemberState",
    "PbxAuthError",
    "PbxPort",
    "PbxPortError",
    "PbxRefused",
    "PbxUnavailable",
    "Presence",
    "Publish",
    "PutKey",
    "SetHold",
    "SetLevel",
    "Snapshot",
    "Watch",
]


class PbxPortError(Exception):
    """Base class of what a port raises; the web layer maps these to HTTP statuses."""


class PbxUnavailable(PbxPortError):
    """The PBX could not be reached or did not answer in time (try again later)."""


class PbxRefused(PbxPortError):
    """The PBX answered and said no (an action it refused, a key it would not store)."""


class PbxAuthError(PbxPortError):
    """The PBX refused the engine's credentials (or its event filter): retrying never helps.

    `field` names the site setting to look at (the secret, or the user's permissions).
    """

    def __init__(self, message: str, field: str = "pbx.control_secret") -> None:
        super().__init__(message)
        self.field = field


class Watch(Protocol):
    """A registration of a change callback; close it to stop being called."""

    def close(self) -> None: ...


class PbxPort(Protocol):
    """What the engine needs from a PBX: read its state, change it, hear when it changes.

    Implementations translate to one PBX's vocabulary and back, raise only the errors
    above (never their transport's), and deliver changes in the order the PBX reported
    them, off the read path.
    """

    @property
    def name(self) -> str:
        """Which PBX this is, for logs ("asterisk", "freeswitch", "memory")."""
        ...

    async def snapshot(self, queues: Collection[str] | None = None) -> Snapshot:
        """Every queue member of the site's queues (or only of `queues`) and every stored
        key, read now."""
        ...

    async def apply(self, command: Command) -> None:
        """Carry out one command; PbxRefused when the PBX says no."""
        ...

    def watch(self, on_change: Callable[[Change], None]) -> Watch:
        """Call `on_change` for every change that may need the engine to look again,
        including ChangeKind.RESYNC after a reconnect."""
        ...

    async def calls(self) -> tuple[LiveCall, ...]:
        """The calls the site's agents are on now."""
        ...

    async def transfer(self, call: LiveCall, number: str, *, attended: bool) -> None:
        """Move the other party of `call` to `number` (one of the site's numbers, or the
        urgent prefix and an agent's number), as if they had dialled it.

        Blind: the agent's leg ends and the party goes on alone. Attended: the agent
        first talks to whoever answers the number, the party hearing hold; the agent
        hanging up completes the transfer. PbxRefused when the call is gone.
        """
        ...

    async def call_back(self, agent: str, caller: str, queue: str) -> None:
        """Ring `agent`'s devices; once one answers, dial `caller` out through the
        site's trunk and connect the two (a callback request of `queue`). Returns once
        the PBX took the request; PbxRefused when it would not."""
        ...

    async def close(self) -> None:
        """Let go of the PBX (the PBX keeps every state; nothing is undone)."""
        ...
