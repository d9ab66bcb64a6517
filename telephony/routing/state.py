"""The state the engine keeps in the PBX for the dialplan and for the next engine.

Everything the dialplan needs to route a call lives in the PBX (AstDB on Asterisk,
mod_db on FreeSWITCH), so calls route without the engine and the engine can restart
without losing anything. Values are the same text on every PBX; where they are kept is
each port's business (`Key` -> AstDB family/key, mod_db realm/key):

- focus/<agent> = `<until>`: the agent is in focus until that Unix time, `0` meaning
  until turned off. The dialplan compares it with the current time itself, so focus
  ends on time even while the engine is stopped.
- case/<caller number> = `<agent>`: the caller is linked to a case the agent owns, so
  the call reaches the agent even in focus.
- override/<group>/<agent>/member = `join|leave:<until>` and .../pause =
  `pause|unpause:<until>`: a manual change that wins over the roster until `<until>`,
  the agent's next shift boundary.
- away/<agent> = `<reason>`: the agent is away (held in every hunt group and skill
  queue; the direct line still rings) until back; the reason is for people to read.
- callback/<queue>/<caller number> = `<joined>`: a caller waiting in the skill queue
  since that Unix time pressed the callback key (the dialplan writes it). The engine
  marks each try before placing it, `<joined>;<tries>;<rest until>`, and the PBX deletes
  the request when the caller answers the callback; a request still there after its
  rest is tried again (`telephony.engine.callbacks`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from telephony.port.model import Family, Key


class OverrideAction(StrEnum):
    JOIN = "join"
    LEAVE = "leave"
    PAUSE = "pause"
    UNPAUSE = "unpause"

    @property
    def kind(self) -> str:
        """`member` or `pause`: the two overrides an agent can hold in one group."""
        return "member" if self in (OverrideAction.JOIN, OverrideAction.LEAVE) else "pause"


@dataclass(frozen=True, slots=True)
class Override:
    """A manual change to one agent's membership of one hunt group."""

    group: str
    agent: str
    action: OverrideAction
    until: int

    def encode(self) -> str:
        return f"{self.action.value}:{self.until}"

    @property
    def key(self) -> Key:
        return override_key(self.group, self.agent, self.action.kind)


def override_key(group: str, agent: str, kind: str) -> Key:
    """Where an agent's `member` or `pause` override in a group is kept."""
    return Key(Family.OVERRIDE, (group, agent, kind))


@dataclass(frozen=True, slots=True)
class Focus:
    """An agent in focus until a Unix time, or until turned off (`until` is None)."""

    agent: str
    until: int | None

    def encode(self) -> str:
        return str(self.until or 0)

    @property
    def key(self) -> Key:
        return focus_key(self.agent)

    def active(self, now: float) -> bool:
        return self.until is None or now < self.until


def focus_key(agent: str) -> Key:
    """Where an agent's focus is kept."""
    return Key(Family.FOCUS, (agent,))


def away_key(agent: str) -> Key:
    """Where an agent's away reason is kept."""
    return Key(Family.AWAY, (agent,))


MAX_REASON = 64


def reason_problem(reason: str) -> str | None:
    """What is wrong with an away reason, or None: 1-64 printable characters, no "/"
    (AstDB and mod_db keys and values are split on it) and no line break."""
    if not reason.strip():
        return "must not be empty"
    if len(reason) > MAX_REASON:
        return f"at most {MAX_REASON} characters"
    if "/" in reason or not reason.isprintable():
        return 'printable characters only, without "/"'
    return None


def case_key(number: str) -> Key:
    """Where a caller's case link is kept."""
    return Key(Family.CASE, (number,))


@dataclass(frozen=True, slots=True)
class StoredCallback:
    """A stored callback request: when the caller joined the queue, how often a callback
    was placed, and until when (Unix time) the last one is under way or resting."""

    joined: int
    tries: int = 0
    rest_until: int = 0

    def encode(self) -> str:
        if not self.tries:
            return str(self.joined)  # as the dialplan writes it
        return f"{self.joined};{self.tries};{self.rest_until}"


@dataclass(frozen=True, slots=True)
class StoredState:
    """What the engine finds stored in the PBX, read into its meaning."""

    focus: dict[str, Focus]
    cases: dict[str, str]
    overrides: dict[tuple[str, str, str], Override]
    """By (group, agent, kind)."""
    callbacks: dict[tuple[str, str], StoredCallback] = field(default_factory=dict)
    """Callback requests by (queue, caller number)."""
    away: dict[str, str] = field(default_factory=dict)
    """Away agents, with their reason."""


EMPTY = StoredState({}, {}, {})

_ACTIONS = {a.value for a in OverrideAction}
_INT_RE = re.compile(r"^[0-9]{1,12}$")
_CALLBACK_RE = re.compile(r"^([0-9]{1,12})(?:;([0-9]{1,3});([0-9]{1,12}))?$")


def parse_keys(keys: Mapping[Key, str]) -> StoredState:
    """Read stored keys into their meaning. Malformed values are skipped, never guessed at."""
    focus: dict[str, Focus] = {}
    cases: dict[str, str] = {}
    overrides: dict[tuple[str, str, str], Override] = {}
    callbacks: dict[tuple[str, str], StoredCallback] = {}
    away: dict[str, str] = {}
    for key, value in keys.items():
        parts = key.parts
        if key.family is Family.FOCUS and len(parts) == 1 and _INT_RE.match(value):
            until = int(value)
            focus[parts[0]] = Focus(parts[0], until or None)
        elif key.family is Family.CASE and len(parts) == 1 and value:
            cases[parts[0]] = value
        elif key.family is Family.OVERRIDE and len(parts) == 3:
            action, _, until_text = value.partition(":")
            if action in _ACTIONS and _INT_RE.match(until_text):
                override = Override(parts[0], parts[1], OverrideAction(action), int(until_text))
                if override.action.kind == parts[2]:
                    overrides[(parts[0], parts[1], parts[2])] = override
        elif key.family is Family.AWAY and len(parts) == 1 and reason_problem(value) is None:
            away[parts[0]] = value
        elif key.family is Family.CALLBACK and len(parts) == 2 and (
            match := _CALLBACK_RE.match(value)
        ):
            joined, tries, rest = match.groups()
            callbacks[(parts[0], parts[1])] = StoredCallback(
                int(joined), int(tries or 0), int(rest or 0))
    return StoredState(focus, cases, overrides, callbacks, away)


def callback_key(queue: str, caller: str) -> Key:
    """Where a caller's callback request in a skill queue is kept."""
    return Key(Family.CALLBACK, (queue, caller))
