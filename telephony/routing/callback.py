"""Who calls which waiting caller back now: a pure function of the site, the stored
callback requests, the skill queues' members and the callbacks already under way.

A caller who pressed a skill queue's callback key left a request (`callback/<queue>/
<caller>` = when they joined the queue). The oldest request of a queue goes first, to
a member of that queue who can take a call now (idle, not held), the most skilled
(lowest level) first. An agent makes one callback at a time, and a request under way
is never dialled a second time.

Like `telephony.routing.skills`, nothing here does I/O: the engine's callback
component (`telephony.engine.callbacks`) reads the PBX, asks `assign()` and hands the
answer to the port.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from telephony.config.fields import shown
from telephony.config.models import NUMBER_RE, Agent, Site, SkillQueue, Trunk
from telephony.port.model import Member, MemberState

CALLER_RING_SECONDS = 45
"""How long the caller's phone rings when called back: longer than an agent's ring,
since the caller may have put the phone down meanwhile."""


@dataclass(frozen=True, slots=True)
class Request:
    """A caller who asked to be called back, waiting since `joined` (Unix seconds)."""

    queue: str
    caller: str
    joined: int


@dataclass(frozen=True, slots=True)
class Dial:
    """Call `caller` back for `queue` through `agent` now."""

    agent: str
    queue: str
    caller: str
    joined: int
    why: str

    @property
    def request(self) -> Request:
        return Request(self.queue, self.caller, self.joined)

    def __str__(self) -> str:
        return f"call {self.caller} back for {self.queue} through {self.agent}: {self.why}"


@dataclass(frozen=True, slots=True)
class UnderWay:
    """A callback the PBX took and has not finished: its agent is spoken for."""

    agent: str
    queue: str
    caller: str


def requests(stored: Mapping[tuple[str, str], int]) -> list[Request]:
    """The stored requests (by (queue, caller)), oldest first."""
    found = [Request(queue, caller, joined) for (queue, caller), joined in stored.items()]
    return sorted(found, key=lambda r: (r.joined, r.queue, r.caller))


def unusable(site: Site, pending: Sequence[Request]) -> list[tuple[Request, str]]:
    """Requests no agent can ever serve, with the reason: a queue the site no longer
    has, or a caller that is not a number the trunk could dial."""
    queues = {q.id for q in site.queues}
    out: list[tuple[Request, str]] = []
    for request in pending:
        if request.queue not in queues:
            out.append((request, f"no skill queue {shown(request.queue)} in the site"))
        elif not NUMBER_RE.fullmatch(request.caller):
            out.append((request, f"{shown(request.caller)} is not a number to dial"))
    return out


def callback_trunk(site: Site) -> Trunk | None:
    """The trunk callbacks dial out through: the site's first with a `dial_host`."""
    return next((t for t in site.trunks if t.dial_host), None)


@dataclass(frozen=True, slots=True)
class Outbound:
    """Everything a port needs to place one callback, checked against the site."""

    agent: Agent
    caller: str
    queue: SkillQueue
    trunk: Trunk


def outbound(site: Site, agent: str, caller: str, queue: str) -> Outbound:
    """The site's agent, skill queue and dial-out trunk for a callback.

    Raises ValueError naming what is wrong: an unknown agent or queue, a caller that is
    not a number (it goes into a dial string), or no trunk with a `dial_host`.
    """
    found = next((a for a in site.agents if a.id == agent), None)
    if found is None:
        raise ValueError(f"agent: unknown agent {shown(agent)}")
    skill_queue = next((q for q in site.queues if q.id == queue), None)
    if skill_queue is None:
        raise ValueError(f"queue: unknown skill queue {shown(queue)}")
    if not NUMBER_RE.fullmatch(caller):
        raise ValueError(
            f"caller: {shown(caller)} is not a number: digits with an optional leading +"
        )
    trunk = callback_trunk(site)
    if trunk is None:
        raise ValueError("trunks: no trunk has a dial_host to call out through")
    return Outbound(found, caller, skill_queue, trunk)


def assign(
    site: Site,
    pending: Sequence[Request],
    members: Sequence[Member],
    under_way: Collection[UnderWay],
) -> list[Dial]:
    """Which request goes to which agent now, oldest request first.

    An agent is offered a request of a queue they are a member of, when none of their
    entries is ringing or on a call (the PBX reports device state per agent), the entry
    is not held, and no callback of theirs is under way; among those, the lowest level
    (the most skilled) first, then the agent's place in the site file.
    """
    if callback_trunk(site) is None:
        return []
    bad = {request for request, _ in unusable(site, pending)}
    place = {a.id: i for i, a in enumerate(site.agents)}
    taken = {u.agent for u in under_way}
    dialled = {(u.queue, u.caller) for u in under_way}
    busy = {m.agent for m in members if m.state is not MemberState.IDLE}
    ready: dict[str, list[Member]] = {}
    for m in members:
        if m.hold is None and m.agent in place and m.agent not in busy:
            ready.setdefault(m.queue, []).append(m)
    out: list[Dial] = []
    for request in sorted(pending, key=lambda r: (r.joined, r.queue, r.caller)):
        if request in bad or (request.queue, request.caller) in dialled:
            continue
        free = [m for m in ready.get(request.queue, []) if m.agent not in taken]
        if not free:
            continue
        best = min(free, key=lambda m: (m.level, place[m.agent]))
        taken.add(best.agent)
        dialled.add((request.queue, request.caller))
        out.append(Dial(
            best.agent, request.queue, request.caller, request.joined,
            f"oldest request of {request.queue} (since {request.joined}); "
            f"{best.agent} is free at level {best.level}",
        ))
    return out

