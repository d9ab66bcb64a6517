"""Skill-queue membership as a pure function of skills, availability and the members.

Every agent with the queue's skill at or above its `min_level` who can take a call now
(a device registered, not in focus) is a member, most skilled first (an away agent
stays a member, held, and rings at no level until back): the neutral level
1 rings first and level n joins the ringing (n-1) x the queue's `level_wait` later.
Levels are ranked densely over the agents who can actually be rung, so when every
expert is away the next best ring at once rather than after a wait for nobody.

Like `telephony.routing.membership` for hunt groups, nothing here does I/O: the engine
reads the PBX, calls `desired()` and `plan()`, and hands the commands to the port.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from telephony.config.models import Site, SkillQueue
from telephony.port.model import Command, Hold, Join, Member, SetHold, SetLevel
from telephony.routing.membership import take_out

Skills = Mapping[str, Mapping[str, int]]
"""Agent id -> skill -> level (1-5), as the engine holds them (site file plus edits)."""


@dataclass(frozen=True, slots=True)
class SkillWant:
    """One agent that should be in one skill queue, at a ring level."""

    queue: str
    agent: str
    level: int
    why: str
    held: bool = False
    """Away: a member held (no calls from the queue) until back."""


@dataclass(frozen=True, slots=True)
class Reach:
    """Whether an agent can be rung now, as the engine sees it."""

    registered: bool
    in_focus: bool
    away: str | None = None
    """The reason, when the agent is away."""

    @property
    def reachable(self) -> bool:
        return self.registered and not self.in_focus


def qualified(queue: SkillQueue, skills: Skills) -> dict[str, int]:
    """Agents with the queue's skill at or above its minimum level, with that level."""
    out = {}
    for agent, theirs in skills.items():
        level = theirs.get(queue.skill, 0)
        if level >= queue.min_level:
            out[agent] = level
    return out


def rank(levels: Sequence[int], own: int) -> int:
    """The ring level of a skill level `own` among the skill levels that can be rung:
    1 + how many distinct higher ones there are."""
    return 1 + len({level for level in levels if level > own})


def desired(
    site: Site,
    skills: Skills,
    reach: Mapping[str, Reach],
    members: Sequence[Member],
    queues: Collection[str] | None = None,
) -> dict[tuple[str, str], SkillWant]:
    """Who should be in each skill queue (or in `queues`) now, at which ring level,
    keyed by (queue, agent).

    An agent held by someone else in a queue stays (the engine never undoes another
    tool's pause) but does not count when ranking, as they cannot be rung.
    """
    held = {(m.queue, m.agent) for m in members if m.hold is Hold.EXTERNAL}
    wants: dict[tuple[str, str], SkillWant] = {}
    for queue in site.queues:
        if queues is not None and queue.id not in queues:
            continue
        able = {
            agent: level for agent, level in qualified(queue, skills).items()
            if reach.get(agent, Reach(True, False)).reachable
        }
        away = {agent: r.away for agent in able if (r := reach.get(agent)) and r.away}
        ringable = [level for agent, level in able.items()
                    if (queue.id, agent) not in held and agent not in away]
        for agent, level in sorted(able.items()):
            ring = rank(ringable, level)
            if agent in away:
                wants[(queue.id, agent)] = SkillWant(
                    queue.id, agent, ring, f"away: {away[agent]}", held=True)
                continue
            why = f"{queue.skill} level {level}, rings at level {ring}"
            wants[(queue.id, agent)] = SkillWant(queue.id, agent, ring, why)
    return wants


def why_not(queue: SkillQueue, agent: str, skills: Skills, reach: Mapping[str, Reach]) -> str:
    """Why an agent is not (or no longer) wanted in a skill queue, for logs."""
    level = skills.get(agent, {}).get(queue.skill, 0)
    if level < queue.min_level:
        return (f"{queue.skill} level {level} below {queue.min_level}" if level
                else f"no {queue.skill} skill")
    state = reach.get(agent, Reach(True, False))
    if state.in_focus:
        return "in focus"
    if not state.registered:
        return "no device registered"
    return "not wanted"


def plan(
    site: Site,
    wants: Mapping[tuple[str, str], SkillWant],
    members: Sequence[Member],
    skills: Skills,
    reach: Mapping[str, Reach],
) -> list[Command]:
    """The commands that turn the skill queues' `members` into `wants`, never cutting a
    call short (a member on a call who is no longer wanted leaves when it ends)."""
    queues = {q.id: q for q in site.queues}
    agents = {a.id for a in site.agents}
    commands: list[Command] = []
    seen: set[tuple[str, str]] = set()
    for m in members:
        if m.queue not in queues or m.agent not in agents:
            continue  # a hunt group's member, or one added by hand: not ours here
        key = (m.queue, m.agent)
        want = wants.get(key)
        if key in seen or not m.current:
            commands += take_out(m, "duplicate or stale")
            continue
        seen.add(key)
        if want is None:
            commands += take_out(m, why_not(queues[m.queue], m.agent, skills, reach))
            continue
        if m.level != want.level:
            commands.append(SetLevel(m.queue, m.agent, m.ref, want.level, want.why))
        if want.held and m.hold in (None, Hold.LEAVING):
            commands.append(SetHold(m.queue, m.agent, m.ref, Hold.MANUAL, want.why))
        elif not want.held and m.hold in (Hold.LEAVING, Hold.MANUAL):
            # Only our own holds are undone (someone else's pause stays).
            commands.append(SetHold(m.queue, m.agent, m.ref, None, want.why))
    for key, want in sorted(wants.items()):
        if key not in seen:
            hold = Hold.MANUAL if want.held else None
            commands.append(Join(want.queue, want.agent, want.why, hold=hold, level=want.level))
    return commands
