"""Hunt-group membership as a pure function of site, time, AstDB state and the queues.

`desired()` says who should be in each hunt group and whether paused; `plan()` compares
that with what app_queue reports and returns the commands that close the gap. Neither
does I/O: the engine reads the PBX, calls these, and sends the commands.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from telephony.config.models import Site
from telephony.routing import roster
from telephony.routing.astdb import FOCUS, DbState, OverrideAction
from telephony.routing.names import member_interface, state_interface

# app_queue device states (AST_DEVICE_*) that mean "on a call right now".
_BUSY_STATES = frozenset({2, 3, 6, 7, 8})
_OURS = "telephony:"
LEAVING_REASON = f"{_OURS}leaving-after-call"
MANUAL_REASON = f"{_OURS}manual"


@dataclass(frozen=True, slots=True)
class Member:
    """A queue member as app_queue reports it (QueueStatus / QueueMember)."""

    queue: str
    name: str
    interface: str
    paused: bool
    in_call: bool
    status: int
    paused_reason: str = ""
    state_interface: str = ""

    @property
    def busy(self) -> bool:
        return self.in_call or self.status in _BUSY_STATES


@dataclass(frozen=True, slots=True)
class Want:
    """One agent that should be in one hunt group."""

    queue: str
    agent: str
    paused: bool
    why: str


@dataclass(frozen=True, slots=True)
class AddMember:
    queue: str
    agent: str
    interface: str
    paused: bool
    why: str
    state_interface: str

    def __str__(self) -> str:
        state = " paused" if self.paused else ""
        return f"add {self.agent} to {self.queue}{state}: {self.why}"


@dataclass(frozen=True, slots=True)
class RemoveMember:
    queue: str
    agent: str
    interface: str
    why: str

    def __str__(self) -> str:
        return f"remove {self.agent} from {self.queue}: {self.why}"


@dataclass(frozen=True, slots=True)
class PauseMember:
    queue: str
    agent: str
    interface: str
    paused: bool
    reason: str
    why: str

    def __str__(self) -> str:
        verb = "pause" if self.paused else "unpause"
        return f"{verb} {self.agent} in {self.queue}: {self.why}"


@dataclass(frozen=True, slots=True)
class DeleteKey:
    """Drop an AstDB key that has expired, so the dialplan and the engine agree."""

    family: str
    key: str
    why: str

    def __str__(self) -> str:
        return f"forget {self.family}/{self.key}: {self.why}"


Command = AddMember | RemoveMember | PauseMember | DeleteKey


def _stamp(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def desired(site: Site, now: datetime, db: DbState) -> dict[tuple[str, str], Want]:
    """Who should be in each hunt group at `now`, keyed by (group, agent)."""
    stamp = now.timestamp()
    in_focus = {a for a, f in db.focus.items() if f.active(stamp)}
    wants: dict[tuple[str, str], Want] = {}
    for group in site.hunt_groups:
        zone = site.zone(group)
        for agent in site.agents:
            shift = roster.current_shift(group, zone, agent.id, now)
            member = shift is not None
            paused = False
            why = f"on duty {_stamp(shift[0])}-{_stamp(shift[1])}" if shift else "off duty"
            override = db.overrides.get((group.id, agent.id, "member"))
            if override is not None and stamp < override.until:
                member = override.action is OverrideAction.JOIN
                why = f"manual {override.action.value} until {_stamp(_utc(override.until))}"
            pause = db.overrides.get((group.id, agent.id, "pause"))
            if pause is not None and stamp < pause.until:
                paused = pause.action is OverrideAction.PAUSE
                if paused:
                    why += f", paused by hand until {_stamp(_utc(pause.until))}"
            if agent.id in in_focus:
                member = False
                why = "in focus"
            if member:
                wants[(group.id, agent.id)] = Want(group.id, agent.id, paused, why)
    return wants


def plan(
    site: Site,
    wants: dict[tuple[str, str], Want],
    members: list[Member],
    db: DbState,
    now: datetime,
) -> list[Command]:
    """The commands that turn `members` into `wants`, never cutting a call short."""
    commands: list[Command] = []
    groups = {g.id for g in site.hunt_groups}
    interfaces = {a.id: member_interface(a) for a in site.agents}
    states = {a.id: state_interface(a) for a in site.agents}
    seen: set[tuple[str, str]] = set()
    for m in members:
        if m.queue not in groups or m.name not in interfaces:
            continue  # not ours to manage: a skill queue or a member added by hand
        key = (m.queue, m.name)
        want = wants.get(key)
        stale = m.interface != interfaces[m.name] or (
            m.state_interface and m.state_interface != states[m.name]
        )
        if key in seen or stale:
            # A duplicate, or an entry left from an older site file or release (app_queue
            # keys members by interface; a state interface cannot be changed in place).
            commands += _take_out(m, "duplicate or stale")
            continue
        seen.add(key)
        if want is None:
            commands += _take_out(m, _why_gone(m, db, now))
        elif want.paused and (not m.paused or _leaving(m)):
            commands.append(
                PauseMember(m.queue, m.name, m.interface, True, MANUAL_REASON, want.why)
            )
        elif not want.paused and m.paused and m.paused_reason.startswith(_OURS):
            # Only our own pauses are undone: an agent who paused from their phone or
            # another tool stays paused.
            commands.append(PauseMember(m.queue, m.name, m.interface, False, "", want.why))
    for key, want in sorted(wants.items()):
        if key not in seen:
            commands.append(
                AddMember(
                    want.queue, want.agent, interfaces[want.agent], want.paused, want.why,
                    states[want.agent],
                )
            )
    stamp = now.timestamp()
    for agent_id, focus in sorted(db.focus.items()):
        if not focus.active(stamp):
            commands.append(DeleteKey(FOCUS, agent_id, "focus ended"))
    for (group, agent_id, kind), override in sorted(db.overrides.items()):
        if stamp >= override.until:
            commands.append(
                DeleteKey(override.family, kind, f"manual {override.action.value} ran out")
            )
    return commands


def _leaving(m: Member) -> bool:
    return m.paused and m.paused_reason == LEAVING_REASON


def _take_out(m: Member, why: str) -> list[Command]:
    """Remove a member now, or, on a call, pause them (no new calls) until it ends."""
    if not m.busy:
        return [RemoveMember(m.queue, m.name, m.interface, why)]
    if _leaving(m):
        return []  # already paused to leave; the end of the call brings the removal
    return [PauseMember(
        m.queue, m.name, m.interface, True, LEAVING_REASON, f"{why}; leaves after the current call"
    )]


def _why_gone(m: Member, db: DbState, now: datetime) -> str:
    focus = db.focus.get(m.name)
    if focus is not None and focus.active(now.timestamp()):
        return "in focus"
    override = db.overrides.get((m.queue, m.name, "member"))
    if override is not None and now.timestamp() < override.until:
        return "manual leave"
    return "shift over"


def next_wakeup(site: Site, now: datetime, db: DbState) -> datetime | None:
    """When the desired membership can next change by itself."""
    candidates: list[datetime] = []
    for group in site.hunt_groups:
        boundary = roster.next_boundary(group, site.zone(group), now)
        if boundary is not None:
            candidates.append(boundary)
    stamp = now.timestamp()
    candidates += [_utc(f.until) for f in db.focus.values() if f.until and f.until > stamp]
    candidates += [_utc(o.until) for o in db.overrides.values() if o.until > stamp]
    return min(candidates, default=None)


def _utc(stamp: int) -> datetime:
    return datetime.fromtimestamp(stamp, UTC)
