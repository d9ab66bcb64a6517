"""One state per agent, as people and phones see it: a pure function of what is known.

`facts()` gathers what the engine knows about an agent (registration, what their
devices do, away, focus, the roster, wrap-up) and `derive()` turns it into one
`AgentPresence`. When several states hold, the first of `PRECEDENCE` wins: a phone
ringing says more about the next minute than a roster does. Nothing here reads a clock
or the PBX; the engine passes `now` and what it read.

Wrap-up is the engine's approximation: app_queue and mod_callcenter keep their own
wrap-up timers and tell nobody, and the cheap path of a phone event cannot tell a
queue call from a direct one. So an agent whose call ends while they are an unheld
member of a hunt group or skill queue with `wrapup_seconds` is shown in wrap-up for the
longest of those (after a direct call too, which the PBX would not hold them for).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from telephony.config.models import Site
from telephony.port.model import Hold, Member, MemberState, Presence
from telephony.routing.state import StoredState

PRECEDENCE = (
    Presence.OFFLINE,
    Presence.ON_CALL,
    Presence.RINGING,
    Presence.WRAP_UP,
    Presence.FOCUS,
    Presence.AWAY,
    Presence.ON_DUTY,
    Presence.AVAILABLE,
)
"""When several states hold, the first one listed wins."""

# Busiest first: the state an agent's devices are in is the busiest of them.
_BUSY_ORDER = (
    MemberState.ON_CALL,
    MemberState.RINGING,
    MemberState.IDLE,
    MemberState.UNKNOWN,
    MemberState.UNAVAILABLE,
)


def busiest(states: Iterable[MemberState]) -> MemberState:
    """The busiest of some devices' (or queue entries') states; UNAVAILABLE for none."""
    found = set(states)
    return next((s for s in _BUSY_ORDER if s in found), MemberState.UNAVAILABLE)


@dataclass(frozen=True, slots=True)
class Facts:
    """What the engine knows about one agent at one moment."""

    agent: str
    registered: bool
    phone: MemberState
    """What their devices do now (the busiest of them)."""
    away: str | None = None
    """The reason, when away (or paused in every queue they are in)."""
    in_focus: bool = False
    focus_until: datetime | None = None
    """When focus ends; None until turned off."""
    duty: Mapping[str, datetime | None] = field(default_factory=dict)
    """Hunt groups the agent is on duty in now, with when that ends (None: around the
    clock)."""
    wrap_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class AgentPresence:
    """One agent's state: the state, its reason and end, and the note in words."""

    agent: str
    presence: Presence
    reason: str | None
    until: datetime | None
    on_duty: tuple[str, ...]
    note: str
    """The state in words, times in the site's time zone ("Focus until 14:00")."""
    since: datetime | None
    """When the agent came into this state; None when it held before the engine looked."""


@dataclass(frozen=True, slots=True)
class AgentView:
    """An agent as the API shows them: presence, the groups and queues, the skills."""

    presence: AgentPresence
    groups: tuple[str, ...]
    """Hunt groups whose roster names the agent."""
    queues: tuple[str, ...]
    """Skill queues the agent is a member of now (held or not)."""
    skills: tuple[tuple[str, int], ...]


def derive(
    facts: Facts, now: datetime, zone: ZoneInfo, previous: AgentPresence | None = None
) -> AgentPresence:
    """The agent's presence at `now`; `since` carries over from `previous` while the
    state stays the same."""
    presence, reason, until = _state(facts, now)
    on_duty = tuple(sorted(facts.duty))
    note = _note(presence, reason, until, now, zone)
    if previous is None:
        since = None
    elif previous.presence is presence:
        since = previous.since
    else:
        since = now
    return AgentPresence(facts.agent, presence, reason, until, on_duty, note, since)


def _state(facts: Facts, now: datetime) -> tuple[Presence, str | None, datetime | None]:
    if not facts.registered:
        return Presence.OFFLINE, None, None
    if facts.phone is MemberState.ON_CALL:
        return Presence.ON_CALL, None, None
    if facts.phone is MemberState.RINGING:
        return Presence.RINGING, None, None
    if facts.wrap_until is not None and now < facts.wrap_until:
        return Presence.WRAP_UP, None, facts.wrap_until
    if facts.in_focus:
        return Presence.FOCUS, None, facts.focus_until
    if facts.away is not None:
        return Presence.AWAY, facts.away, None
    if facts.duty:
        ends = list(facts.duty.values())
        return Presence.ON_DUTY, None, None if None in ends else max(e for e in ends if e)
    return Presence.AVAILABLE, None, None


_WORDS = {
    Presence.OFFLINE: "Offline",
    Presence.AVAILABLE: "Available",
    Presence.ON_DUTY: "On duty",
    Presence.RINGING: "Ringing",
    Presence.ON_CALL: "On a call",
    Presence.WRAP_UP: "Wrap-up",
    Presence.AWAY: "Away",
    Presence.FOCUS: "Focus",
}


def _note(
    presence: Presence, reason: str | None, until: datetime | None, now: datetime, zone: ZoneInfo
) -> str:
    words = _WORDS[presence]
    if presence is Presence.AWAY and reason:
        return f"{words}: {reason}"
    if until is not None and presence in (Presence.FOCUS, Presence.ON_DUTY):
        return f"{words} until {clock_time(until, now, zone)}"
    return words


def clock_time(when: datetime, now: datetime, zone: ZoneInfo) -> str:
    """A time as people read it in `zone`: "14:00" today, "Tue 14:00" within the week,
    "2026-12-24 14:00" beyond."""
    local, today = when.astimezone(zone), now.astimezone(zone).date()
    if local.date() == today:
        return f"{local:%H:%M}"
    if today < local.date() < today + timedelta(days=7):
        return f"{local:%a %H:%M}"
    return f"{local:%Y-%m-%d %H:%M}"


def facts(
    site: Site,
    now: datetime,
    stored: StoredState,
    entries: Mapping[str, Sequence[Member]],
    registered: frozenset[str] | None,
    phones: Mapping[str, MemberState] | None,
    duty: Mapping[str, Mapping[str, datetime | None]],
    wrap: Mapping[str, datetime],
    agents: Iterable[str] | None = None,
) -> dict[str, Facts]:
    """The facts of every agent of the site (or of `agents`), by agent id, from each
    agent's queue `entries`.

    Without `phones` (a port that cannot tell), what the devices do is the busiest of
    the agent's queue entries; without `registered`, an agent counts as registered
    unless every entry says no device is.
    """
    wanted = [a.id for a in site.agents] if agents is None else list(agents)
    stamp = now.timestamp()
    out: dict[str, Facts] = {}
    for agent in wanted:
        mine = entries.get(agent, ())
        if phones is not None:
            phone = phones.get(agent, MemberState.UNAVAILABLE)
        else:
            phone = busiest(m.state for m in mine) if mine else MemberState.IDLE
        if registered is not None:
            is_registered = agent in registered
        else:
            is_registered = phone is not MemberState.UNAVAILABLE
        focus = stored.focus.get(agent)
        in_focus = focus is not None and focus.active(stamp)
        focus_until = (datetime.fromtimestamp(focus.until, now.tzinfo)
                       if in_focus and focus is not None and focus.until else None)
        out[agent] = Facts(
            agent,
            is_registered,
            MemberState.IDLE if phone is MemberState.UNAVAILABLE and is_registered else phone,
            _away(agent, stored, mine),
            in_focus,
            focus_until,
            dict(duty.get(agent, {})),
            wrap.get(agent),
        )
    return out


def _away(agent: str, stored: StoredState, entries: Sequence[Member]) -> str | None:
    """The away reason; an agent held in every queue they are in counts as away too,
    with the PBX's words for someone else's pause."""
    if agent in stored.away:
        return stored.away[agent]
    held = [m for m in entries if m.hold is not None and m.hold is not Hold.LEAVING]
    if entries and len(held) == len(entries):
        reasons = [m.hold_reason for m in held if m.hold is Hold.EXTERNAL and m.hold_reason]
        return reasons[0] if reasons else "paused"
    return None


def wrap_up(
    site: Site, agent: str, members: Sequence[Member], ended: datetime
) -> datetime | None:
    """When the wrap-up after a call of `agent` that ended at `ended` ends: the longest
    `wrapup_seconds` of the hunt groups and skill queues they take calls from (an entry
    not held), or None when none has one."""
    seconds = {g.id: g.wrapup_seconds for g in site.hunt_groups}
    seconds.update({q.id: q.wrapup_seconds for q in site.queues})
    longest = max(
        (seconds.get(m.queue, 0) for m in members if m.agent == agent and m.hold is None),
        default=0,
    )
    return ended + timedelta(seconds=longest) if longest else None


def view(
    site: Site,
    presence: AgentPresence,
    members: Sequence[Member],
    skills: Mapping[str, int],
) -> AgentView:
    """The agent as the API shows them."""
    agent = presence.agent
    groups = tuple(g.id for g in site.hunt_groups if agent in g.roster)
    hunt_groups = {g.id for g in site.hunt_groups}
    queues = tuple(sorted({m.queue for m in members if m.agent == agent
                           and m.queue not in hunt_groups}))
    return AgentView(presence, groups, queues, tuple(sorted(skills.items())))

