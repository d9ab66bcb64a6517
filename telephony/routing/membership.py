"""Hunt-group membership as a pure function of site, time, stored state and the queues.

`desired()` says who should be in each hunt group and whether paused; `plan()` compares
that with the members the PBX reports and returns the neutral commands that close the
gap. Neither does I/O: the engine reads the PBX through its port, calls these, and
hands the commands back to the port.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from telephony.config.models import HuntGroup, Site
from telephony.port.model import Command, DeleteKey, Hold, Join, Leave, Member, SetHold
from telephony.routing import roster
from telephony.routing.state import OverrideAction, StoredState, focus_key, override_key


@dataclass(frozen=True, slots=True)
class Want:
    """One agent that should be in one hunt group."""

    queue: str
    agent: str
    paused: bool
    why: str


def _stamp(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def desired(site: Site, now: datetime, stored: StoredState) -> dict[tuple[str, str], Want]:
    """Who should be in each hunt group at `now`, keyed by (group, agent).

    An agent in focus is in none; an away agent stays where the roster puts them, held
    (no calls from the group) until back.
    """
    stamp = now.timestamp()
    in_focus = {a for a, f in stored.focus.items() if f.active(stamp)}
    wants: dict[tuple[str, str], Want] = {}
    for group in site.hunt_groups:
        zone = site.zone(group)
        for agent in site.agents:
            member, _until, why = _duty(group, zone, agent.id, now, stored)
            paused = False
            pause = stored.overrides.get((group.id, agent.id, "pause"))
            if pause is not None and stamp < pause.until:
                paused = pause.action is OverrideAction.PAUSE
                if paused:
                    why += f", paused by hand until {_stamp(_utc(pause.until))}"
            if agent.id in stored.away:
                paused = True
                why = f"away: {stored.away[agent.id]}"
            if agent.id in in_focus:
                member = False
                why = "in focus"
            if member:
                wants[(group.id, agent.id)] = Want(group.id, agent.id, paused, why)
    return wants


def _duty(
    group: HuntGroup, zone: ZoneInfo, agent: str, now: datetime, stored: StoredState
) -> tuple[bool, datetime | None, str]:
    """Whether the roster or a manual change puts the agent in the group at `now`, until
    when, and why (focus and away aside)."""
    shift = roster.current_shift(group, zone, agent, now)
    member = shift is not None
    until = shift[1] if shift else None
    why = f"on duty {_stamp(shift[0])}-{_stamp(shift[1])}" if shift else "off duty"
    override = stored.overrides.get((group.id, agent, "member"))
    if override is not None and now.timestamp() < override.until:
        member = override.action is OverrideAction.JOIN
        until = _utc(override.until) if member else None
        why = f"manual {override.action.value} until {_stamp(_utc(override.until))}"
    return member, until, why


def on_duty(
    site: Site, now: datetime, stored: StoredState
) -> dict[str, dict[str, datetime | None]]:
    """The hunt groups each agent is on duty in at `now` (by the roster or a manual
    join), with when that ends (through back-to-back shifts; None: around the clock),
    by agent id: focus and away aside, and agents on duty nowhere left out."""
    out: dict[str, dict[str, datetime | None]] = {}
    joined = {(g, a) for (g, a, kind) in stored.overrides if kind == "member"}
    for group in site.hunt_groups:
        zone = site.zone(group)
        for agent in site.agents:
            if agent.id not in group.roster and (group.id, agent.id) not in joined:
                continue  # neither a shift nor a manual join: not on duty there
            member, until, why = _duty(group, zone, agent.id, now, stored)
            if member and until is not None:
                if not why.startswith("manual"):
                    until = roster.duty_end(group, zone, agent.id, now)
                out.setdefault(agent.id, {})[group.id] = until
    return out


def plan(
    site: Site,
    wants: dict[tuple[str, str], Want],
    members: Sequence[Member],
    stored: StoredState,
    now: datetime,
) -> list[Command]:
    """The commands that turn `members` into `wants`, never cutting a call short."""
    commands: list[Command] = []
    groups = {g.id for g in site.hunt_groups}
    agents = {a.id for a in site.agents}
    seen: set[tuple[str, str]] = set()
    for m in members:
        if m.queue not in groups or m.agent not in agents:
            continue  # not ours to manage: a skill queue or a member added by hand
        key = (m.queue, m.agent)
        want = wants.get(key)
        if key in seen or not m.current:
            # A duplicate, or an entry left by an older site file or release.
            commands += take_out(m, "duplicate or stale")
            continue
        seen.add(key)
        if want is None:
            commands += take_out(m, _why_gone(m, stored, now))
        elif want.paused and m.hold in (None, Hold.LEAVING):
            commands.append(SetHold(m.queue, m.agent, m.ref, Hold.MANUAL, want.why))
        elif not want.paused and m.hold in (Hold.MANUAL, Hold.LEAVING):
            # Only our own holds are undone: an agent who paused from their phone or
            # another tool stays paused.
            commands.append(SetHold(m.queue, m.agent, m.ref, None, want.why))
    for key, want in sorted(wants.items()):
        if key not in seen:
            hold = Hold.MANUAL if want.paused else None
            commands.append(Join(want.queue, want.agent, want.why, hold=hold))
    stamp = now.timestamp()
    for agent_id, focus in sorted(stored.focus.items()):
        if not focus.active(stamp):
            commands.append(DeleteKey(focus_key(agent_id), "focus ended"))
    for (group, agent_id, kind), override in sorted(stored.overrides.items()):
        if stamp >= override.until:
            commands.append(DeleteKey(
                override_key(group, agent_id, kind), f"manual {override.action.value} ran out"
            ))
    return commands


def take_out(m: Member, why: str) -> list[Command]:
    """Remove a member now, or, on a call, hold them (no new calls) until it ends."""
    if not m.busy:
        return [Leave(m.queue, m.agent, m.ref, why)]
    if m.hold is Hold.LEAVING:
        return []  # already held to leave; the end of the call brings the removal
    return [SetHold(m.queue, m.agent, m.ref, Hold.LEAVING, f"{why}; leaves after the current call")]


def _why_gone(m: Member, stored: StoredState, now: datetime) -> str:
    focus = stored.focus.get(m.agent)
    if focus is not None and focus.active(now.timestamp()):
        return "in focus"
    override = stored.overrides.get((m.queue, m.agent, "member"))
    if override is not None and now.timestamp() < override.until:
        return "manual leave"
    return "shift over"


def next_wakeup(site: Site, now: datetime, stored: StoredState) -> datetime | None:
    """When the desired membership can next change by itself."""
    candidates: list[datetime] = []
    for group in site.hunt_groups:
        boundary = roster.next_boundary(group, site.zone(group), now)
        if boundary is not None:
            candidates.append(boundary)
    stamp = now.timestamp()
    candidates += [_utc(f.until) for f in stored.focus.values() if f.until and f.until > stamp]
    candidates += [_utc(o.until) for o in stored.overrides.values() if o.until > stamp]
    return min(candidates, default=None)


def _utc(stamp: int) -> datetime:
    return datetime.fromtimestamp(stamp, UTC)
