"""The AstDB keys the engine writes and the dialplan reads.

Everything the dialplan needs to route a call lives here, in Asterisk, so calls route
without the engine and the engine can restart without losing anything:

- `telephony/focus/<agent>` = `<until>`: the agent is in focus until that Unix time,
  `0` meaning until turned off. The dialplan compares it with `${EPOCH}` itself, so
  focus ends on time even while the engine is stopped.
- `telephony/case/<caller number>` = `<agent>`: the caller is linked to a case the
  agent owns, so the call reaches the agent even in focus.
- `telephony/override/<group>/<agent>/member` = `join|leave:<until>` and
  `telephony/override/<group>/<agent>/pause` = `pause|unpause:<until>`: a manual change
  that wins over the roster until `<until>`, the agent's next shift boundary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

FAMILY = "telephony"
FOCUS = f"{FAMILY}/focus"
CASE = f"{FAMILY}/case"
OVERRIDE = f"{FAMILY}/override"


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
    def family(self) -> str:
        return f"{OVERRIDE}/{self.group}/{self.agent}"

    @property
    def key(self) -> str:
        return self.action.kind


@dataclass(frozen=True, slots=True)
class Focus:
    """An agent in focus until a Unix time, or until turned off (`until` is None)."""

    agent: str
    until: int | None

    def encode(self) -> str:
        return str(self.until or 0)

    def active(self, now: float) -> bool:
        return self.until is None or now < self.until


@dataclass(frozen=True, slots=True)
class DbState:
    """What the engine finds under `telephony/` in AstDB."""

    focus: dict[str, Focus]
    cases: dict[str, str]
    overrides: dict[tuple[str, str, str], Override]
    """By (group, agent, kind)."""


_ACTIONS = {a.value for a in OverrideAction}
_INT_RE = re.compile(r"^[0-9]{1,12}$")


def parse_tree(tree: dict[str, str]) -> DbState:
    """Read the `telephony/` tree; keys may be relative (`focus/asa`) or full
    (`/telephony/focus/asa`). Malformed keys are skipped, never guessed at."""
    focus: dict[str, Focus] = {}
    cases: dict[str, str] = {}
    overrides: dict[tuple[str, str, str], Override] = {}
    for key, value in tree.items():
        parts = key.strip("/").split("/")
        if parts[0] == FAMILY:
            parts = parts[1:]
        if len(parts) == 2 and parts[0] == "focus" and _INT_RE.match(value):
            until = int(value)
            focus[parts[1]] = Focus(parts[1], until or None)
        elif len(parts) == 2 and parts[0] == "case":
            cases[parts[1]] = value
        elif len(parts) == 4 and parts[0] == "override":
            action, _, until_text = value.partition(":")
            if action in _ACTIONS and _INT_RE.match(until_text):
                override = Override(parts[1], parts[2], OverrideAction(action), int(until_text))
                if override.key == parts[3]:
                    overrides[(parts[1], parts[2], parts[3])] = override
    return DbState(focus, cases, overrides)
