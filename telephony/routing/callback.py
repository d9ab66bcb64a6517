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
from telephony.routing.state import StoredCallback

CALLER_RING_SECONDS = 45
"""How long the caller's phone rings when called back: longer than an agent's ring,
since the caller may have put the phone down meanwhile."""

MAX_TRIES = 3
"""Callbacks placed for one request before it is given up (the agent or the caller
did not answer each time)."""

RETRY_AFTER_SECONDS = 30
"""The rest between a callback that did not reach the caller and the next try."""

_GRACE_SECONDS = 10
"""Past both rings, the time a PBX may take to report the caller's answer."""


@dataclass(frozen=True, slots=True)
class Request:
    """A caller who asked to be called back, waiting since `joined` (Unix seconds);
    called back `tries` times so far, the last one under way or resting until
    `rest_until`."""

    queue: str
    caller: str
    joined: int
    tries: int = 0
    rest_until: int = 0

    @property
    def stored(self) -> StoredCallback:
        return StoredCallback(self.joined, self.tries, self.rest_until)


@dataclass(frozen=True, slots=True)
class Dial:
    """Call `caller` back for `queue` through `agent` now."""

    agent: str
    queue: str
    caller: str
    joined: int
    why: str
    tries: int = 0
    """Callbacks placed for this request before this one."""

    @property
    def request(self) -> Request:
        return Request(self.queue, self.caller, self.joined, self.tries)

    def __str__(self) -> str:
        return f"call {self.caller} back for {self.queue} through {self.agent}: {self.why}"


@dataclass(frozen=True, slots=True)
class UnderWay:
    """A callback the PBX took and has not finished: its agent is spoken for."""

    agent: str
    queue: str
    caller: str


def requests(stored: Mapping[tuple[str, str], StoredCallback]) -> list[Request]:
    """The stored requests (by (queue, caller)), oldest first."""
    found = [
        Request(queue, caller, s.joined, s.tries, s.rest_until)
        for (queue, caller), s in stored.items()
    ]
    return sorted(found, key=lambda r: (r.joined, r.queue, r.caller))


def due(pending: Sequence[Request], now: float) -> list[Request]:
    """The requests to call back now: not under way or resting, tries left."""
    return [r for r in pending if r.tries < MAX_TRIES and now >= r.rest_until]


def exhausted(pending: Sequence[Request], now: float) -> list[Request]:
    """The requests whose last try is over without reaching the caller, and no try is
    left."""
    return [r for r in pending if r.tries >= MAX_TRIES and now >= r.rest_until]


def next_due(pending: Sequence[Request], now: float) -> float | None:
    """When the next resting request is due (Unix time), if any."""
    return min((r.rest_until for r in pending if r.rest_until > now), default=None)


def tried(request: Request, agent_ring: int, now: float) -> StoredCallback:
    """What to store before placing a callback: one more try, under way for both rings
    (and a grace), then resting. The PBX deletes the request once the caller answers,
    so a request still stored after that was not served; it is not dialled again
    meanwhile, by this engine or one started after it."""
    rest = int(now) + agent_ring + CALLER_RING_SECONDS + _GRACE_SECONDS + RETRY_AFTER_SECONDS
    return StoredCallback(request.joined, request.tries + 1, rest)


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
            f"oldest request of {request.queue} (since {request.joined}"
            + (f", try {request.tries + 1} of {MAX_TRIES}" if request.tries else "")
            + f"); {best.agent} is free at level {best.level}",
            request.tries,
        ))
    return out

