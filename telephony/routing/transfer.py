"""Whether a live call may be transferred where an agent asks, and to which number.

Pure: the engine reads the PBX (the agent's call, queue members) and who can take a
call now, and asks `decide()`. A transfer is refused, with the reason, when it would
leave the caller with nobody: an agent who has no phone registered, is on a call or
rings in focus (unless the transfer is urgent), or lacks the skill the caller needs; a
queue or hunt group in which nobody could answer now. Busy queue members still count:
a caller moved into a queue waits for them like any other caller.

Which skill the caller needs: the skill the request names, else the skill of the skill
queue that put the call through. The level is that queue's `min_level` when the skill
is its own, else the lowest `min_level` of the site's queues for the skill, else any
level (1). Skill levels run 1-5, 5 the most skilled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from telephony.config.models import Site, SkillQueue
from telephony.port.model import LiveCall, Member, MemberState

Skills = Mapping[str, Mapping[str, int]]
"""Agent id -> skill -> level (1-5): the effective skills (site file plus edits)."""


class TransferError(Exception):
    """A transfer that cannot go ahead; `field` names the part of the request at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class UnknownTarget(TransferError):
    """An agent, queue, hunt group or skill the site does not know."""


class InvalidTransfer(TransferError):
    """A request that makes no sense whatever the state (urgent to a queue, say)."""


class TransferRefused(TransferError):
    """A sound request refused because of how things are now (nobody could answer)."""


class TargetKind(StrEnum):
    AGENT = "agent"
    QUEUE = "queue"
    HUNT_GROUP = "hunt_group"


@dataclass(frozen=True, slots=True)
class Target:
    """Where a transfer goes: `agent:ID`, `queue:ID` (a skill queue) or `hunt_group:ID`."""

    kind: TargetKind
    id: str

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.id}"

    @classmethod
    def parse(cls, text: object) -> Target:
        """Read `kind:id`; InvalidTransfer (field `to`) for anything else."""
        if not isinstance(text, str):
            raise InvalidTransfer("to", "required: agent:ID, queue:ID or hunt_group:ID")
        word, sep, ident = text.partition(":")
        try:
            kind = TargetKind(word)
        except ValueError:
            kind = None
        if not sep or kind is None or not ident:
            raise InvalidTransfer(
                "to", f"{text[:60]!r} is not agent:ID, queue:ID or hunt_group:ID"
            )
        return cls(kind, ident)


class AgentNow(Protocol):
    """What the engine knows of an agent at this moment (its Availability fits)."""

    @property
    def registered(self) -> bool: ...

    @property
    def in_focus(self) -> bool: ...

    @property
    def busy(self) -> bool:
        """On a call or being rung."""
        ...


@dataclass(frozen=True, slots=True)
class Request:
    """An agent asks to move the other party of their call to `target`."""

    agent: str
    target: Target
    attended: bool = False
    urgent: bool = False
    skill: str | None = None


@dataclass(frozen=True, slots=True)
class Need:
    """A skill the caller needs, at or above a level."""

    skill: str
    min_level: int

    def __str__(self) -> str:
        return f"{self.skill} at level {self.min_level} or above"


@dataclass(frozen=True, slots=True)
class Decision:
    """A transfer that may go ahead: dial `number` for the other party."""

    request: Request
    call: LiveCall
    number: str
    need: Need | None


def decide(
    site: Site,
    request: Request,
    call: LiveCall,
    agents: Mapping[str, AgentNow],
    skills: Skills,
    members: Sequence[Member],
) -> Decision:
    """The number to move `call`'s other party to, or TransferRefused /
    UnknownTarget / InvalidTransfer saying why not.

    `agents`: every site agent's state now (a missing agent counts as away); `members`:
    the entries of the site's queues and hunt groups as the PBX has them.
    """
    need = _need(site, request, call, skills)
    target = request.target
    if target.kind is TargetKind.AGENT:
        number = _to_agent(site, request, agents, skills, need)
        return Decision(request, call, number, need)
    if request.urgent:
        raise InvalidTransfer("urgent", "only a transfer to an agent can be urgent")
    if request.skill is not None:
        raise InvalidTransfer(
            "skill", "only for a transfer to an agent (a queue rings for its own skill)"
        )
    if target.kind is TargetKind.QUEUE:
        queue = _skill_queue(site, target.id)
        _someone_in(f"queue {queue.id}", queue.id, request.agent, agents, members,
                    f" (agents with {queue.skill} at level {queue.min_level} or above "
                    "who can take calls join it)")
        return Decision(request, call, queue.number, None)
    group = next((g for g in site.hunt_groups if g.id == target.id), None)
    if group is None:
        raise UnknownTarget("to", f"unknown hunt group {target.id!r}")
    _someone_in(f"hunt group {group.id}", group.id, request.agent, agents, members, "")
    return Decision(request, call, group.number, None)


def _skill_queue(site: Site, queue_id: str) -> SkillQueue:
    for queue in site.queues:
        if queue.id == queue_id:
            return queue
    raise UnknownTarget("to", f"unknown queue {queue_id!r}")


def _need(site: Site, request: Request, call: LiveCall, skills: Skills) -> Need | None:
    came_through = next((q for q in site.queues if q.id == call.queue), None)
    if request.skill is None:
        if came_through is None:
            return None  # a direct call or a hunt group's: no skill asked of anyone
        return Need(came_through.skill, came_through.min_level)
    skill = request.skill
    known = {q.skill for q in site.queues} | {s for theirs in skills.values() for s in theirs}
    if skill not in known:
        raise UnknownTarget("skill", f"no agent or queue has the skill {skill[:60]!r}")
    if came_through is not None and came_through.skill == skill:
        return Need(skill, came_through.min_level)
    levels = [q.min_level for q in site.queues if q.skill == skill]
    return Need(skill, min(levels, default=1))


def _to_agent(
    site: Site,
    request: Request,
    agents: Mapping[str, AgentNow],
    skills: Skills,
    need: Need | None,
) -> str:
    agent_id = request.target.id
    agent = next((a for a in site.agents if a.id == agent_id), None)
    if agent is None:
        raise UnknownTarget("to", f"unknown agent {agent_id!r}")
    if agent_id == request.agent:
        raise InvalidTransfer("to", f"the call is already with {agent_id}")
    now = agents.get(agent_id)
    if now is None or not now.registered:
        raise TransferRefused("to", f"{agent_id} has no phone registered")
    if now.busy:
        raise TransferRefused("to", f"{agent_id} is on a call")
    if now.in_focus and not request.urgent:
        raise TransferRefused(
            "to", f"{agent_id} is in focus (an urgent transfer rings them anyway)"
        )
    if need is not None:
        level = skills.get(agent_id, {}).get(need.skill, 0)
        if level < need.min_level:
            has = f"has level {level}" if level else "does not have it"
            raise TransferRefused(
                "to", f"{agent_id} lacks the skill the caller needs: {need} ({has})"
            )
    if request.urgent:
        return site.pbx.urgent_prefix + agent.extension
    return agent.extension


def _someone_in(
    what: str,
    queue_id: str,
    asking: str,
    agents: Mapping[str, AgentNow],
    members: Sequence[Member],
    how_to_join: str,
) -> None:
    """Refuse unless some member of the queue could answer (busy ones count: the caller
    waits for them), saying what stands in the way of each member otherwise."""
    entries = [m for m in members if m.queue == queue_id]
    if not entries:
        raise TransferRefused("to", f"nobody is in {what} now{how_to_join}")
    why_not: dict[str, str] = {}
    for m in sorted(entries, key=lambda m: m.agent):
        reason = _cannot_answer(m, asking, agents.get(m.agent))
        if reason is None:
            return
        why_not.setdefault(m.agent, reason)
    listed = "; ".join(f"{agent} {reason}" for agent, reason in why_not.items())
    raise TransferRefused("to", f"nobody in {what} can answer now: {listed}")


def _cannot_answer(member: Member, asking: str, now: AgentNow | None) -> str | None:
    if member.agent == asking:
        return "is the one transferring"
    if member.hold is not None:
        return "is paused"
    if now is None or not now.registered or member.state is MemberState.UNAVAILABLE:
        return "has no phone registered"
    if now.in_focus:
        return "is in focus"
    return None
