"""What the engine and a PBX say to each other, in neutral terms.

The routing core and the engine speak only these words: queue members by agent id with
a hold and a state, commands by verb, keys by family. Each PBX package translates them
into its own vocabulary (app_queue interfaces and pause reasons, AstDB families for
Asterisk; mod_callcenter agents and tiers, mod_db realms for FreeSWITCH) and keeps that
vocabulary to itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Hold(StrEnum):
    """Why a queue member takes no calls from that queue for now."""

    LEAVING = "leaving"
    """Ours: the member leaves the queue when the current call ends."""
    MANUAL = "manual"
    """Ours: paused by hand through the engine, until the agent's next shift boundary."""
    EXTERNAL = "external"
    """Someone else's pause (from the phone, another tool): the engine never undoes it."""


class MemberState(StrEnum):
    """What a member's devices are doing, as the PBX sees them."""

    IDLE = "idle"
    RINGING = "ringing"
    ON_CALL = "on_call"
    UNAVAILABLE = "unavailable"
    """No device registered: the PBX does not ring this member."""
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Member:
    """One agent's entry in one queue (hunt group or skill queue), as the PBX reports it.

    `ref` is the PBX's own handle for the entry, opaque to everyone but the port that
    made it (app_queue keys members by interface, and an old entry may sit beside a new
    one); commands about this entry carry it back. `current` is False for an entry the
    site would no longer render that way (left by an older site file or release): it is
    replaced, not kept.
    """

    queue: str
    agent: str
    ref: str
    hold: Hold | None = None
    state: MemberState = MemberState.IDLE
    level: int = 1
    current: bool = True
    hold_reason: str = ""
    """The PBX's words for an external hold, for people to read."""

    @property
    def busy(self) -> bool:
        """On a call (or being rung) now: taking the member out must wait for its end."""
        return self.state in (MemberState.ON_CALL, MemberState.RINGING)


class Presence(StrEnum):
    """An agent's state as people and phones see it: one per agent, not per device."""

    OFFLINE = "offline"
    """No device registered."""
    AVAILABLE = "available"
    ON_DUTY = "on_duty"
    """Available, and on a hunt-group shift now."""
    RINGING = "ringing"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    """A queue or hunt-group call just ended: no new one for the wrap-up time."""
    AWAY = "away"
    """Paused on purpose, with a reason: offered no queue or hunt-group call."""
    FOCUS = "focus"
    """Working undisturbed, maybe until a time: reached only by allowed callers."""


class Family(StrEnum):
    """The kinds of state the engine keeps in the PBX, where the dialplan reads it."""

    FOCUS = "focus"
    """(agent,) = end time in Unix seconds, "0" until turned off."""
    CASE = "case"
    """(caller number,) = the agent who owns the caller's case."""
    OVERRIDE = "override"
    """(group, agent, "member" | "pause") = "<action>:<until>", a manual change."""
    CALLBACK = "callback"
    """(queue, caller number) = "<unix seconds the caller joined the queue>": a caller
    who pressed the callback key. Written by the dialplan, deleted by the engine once
    the caller is called back."""
    AWAY = "away"
    """(agent,) = the reason, in words: the agent is away (held in every hunt group and
    skill queue, the direct line still rings) until back."""


@dataclass(frozen=True, slots=True)
class Key:
    """One stored value's address: a family and the parts that name it in the family.

    Parts are ids and numbers only, so they never contain "/" or "." and each PBX can
    join them with either.
    """

    family: Family
    parts: tuple[str, ...]

    def __str__(self) -> str:
        return "/".join((self.family.value, *self.parts))


@dataclass(frozen=True, slots=True)
class Join:
    """Add an agent to a queue (on hold from the start when `hold` is MANUAL)."""

    queue: str
    agent: str
    why: str
    hold: Hold | None = None
    level: int = 1

    def __str__(self) -> str:
        state = " paused" if self.hold is not None else ""
        return f"add {self.agent} to {self.queue}{state}: {self.why}"


@dataclass(frozen=True, slots=True)
class Leave:
    """Take one entry out of a queue now."""

    queue: str
    agent: str
    ref: str
    why: str

    def __str__(self) -> str:
        return f"remove {self.agent} from {self.queue}: {self.why}"


@dataclass(frozen=True, slots=True)
class SetHold:
    """Hold an entry (LEAVING: no new calls, out when the call ends) or release it (None)."""

    queue: str
    agent: str
    ref: str
    hold: Hold | None
    why: str

    def __str__(self) -> str:
        verb = "unpause" if self.hold is None else "pause"
        return f"{verb} {self.agent} in {self.queue}: {self.why}"


@dataclass(frozen=True, slots=True)
class PutKey:
    """Store a value where the dialplan and the next engine will find it."""

    key: Key
    value: str
    why: str

    def __str__(self) -> str:
        return f"store {self.key}={self.value}: {self.why}"


@dataclass(frozen=True, slots=True)
class DeleteKey:
    """Forget a stored value (absent is fine)."""

    key: Key
    why: str

    def __str__(self) -> str:
        return f"forget {self.key}: {self.why}"


@dataclass(frozen=True, slots=True)
class SetLevel:
    """Move an entry to another ring level (1 rings first; level n joins the ringing
    after the queue's level wait, n-1 times over)."""

    queue: str
    agent: str
    ref: str
    level: int
    why: str

    def __str__(self) -> str:
        return f"move {self.agent} in {self.queue} to level {self.level}: {self.why}"


@dataclass(frozen=True, slots=True)
class Publish:
    """Show an agent's state on their extension to subscribed phones (BLF lamp and
    presence), whatever device they use: focus and away read busy. `note` is the state
    in words, in the site's time zone ("Focus until 14:00"), for phones that show it."""

    agent: str
    presence: Presence
    note: str
    why: str

    def __str__(self) -> str:
        return f"publish {self.agent} as {self.presence.value} ({self.note}): {self.why}"


Command = Join | Leave | SetHold | SetLevel | PutKey | DeleteKey | Publish


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the engine reads from the PBX in one pass."""

    members: tuple[Member, ...]
    keys: dict[Key, str]
    registered: frozenset[str] | None = None
    """Agents with at least one device registered now; None when the port cannot tell
    (then every agent counts as reachable)."""
    phones: dict[str, MemberState] | None = None
    """What each agent's devices are doing now (the busiest of them), by agent id, for
    every agent of the site; None when the port cannot tell."""


class ChangeKind(StrEnum):
    RESYNC = "resync"
    """The connection came back (or the PBX restarted): read everything again."""
    MEMBERSHIP = "membership"
    """An entry was added to or removed from a queue."""
    MEMBER_STATE = "member_state"
    """An entry's hold or device state changed (a call started or ended)."""
    GONE = "gone"
    """The port gave up for good (the PBX refused a re-login): the engine must stop."""
    REGISTRATION = "registration"
    """A device of `agent` registered or went away."""
    PHONE_STATE = "phone_state"
    """A device of `agent` started or stopped ringing or a call; `state` is what the
    agent's devices do now, when the port knows."""
    KEY = "key"
    """A phone changed a stored key of `agent` (a feature code: duty or focus): read
    the keys again."""


@dataclass(frozen=True, slots=True)
class Change:
    """Something happened on the PBX that may need the engine to look again."""

    kind: ChangeKind
    queue: str = ""
    agent: str = ""
    state: MemberState | None = None


@dataclass(frozen=True, slots=True)
class LiveCall:
    """A call an agent is on now, as the PBX reports it.

    `ref` is the PBX's handle for the other party's leg (the leg a transfer moves),
    opaque to all but the port; `peer` is that party's number as the PBX knows it.
    """

    ref: str
    agent: str
    peer: str
    queue: str = ""
    """The hunt group or skill queue that put the call through, if any."""
