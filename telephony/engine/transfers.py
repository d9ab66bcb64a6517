"""Transferring an agent's live call: read the PBX, decide, then move the other party.

The API calls `transfer_call(site, port, people, agent, request)`; `people` is whatever
tells who can take a call now and with which skills (the Engine does:
`skills_of()` and `availability()`). The decision itself is the pure
`telephony.routing.transfer.decide`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from telephony.config.models import Site
from telephony.port import LiveCall, PbxPort
from telephony.routing.transfer import (
    AgentNow,
    Need,
    Request,
    TargetKind,
    TransferRefused,
    UnknownTarget,
    decide,
)

log = logging.getLogger("telephony.engine")


class People(Protocol):
    """Who can take a call now, and with which skills (the Engine is one)."""

    def skills_of(self, agent_id: str) -> Mapping[str, int]:
        """An agent's effective skills: the site file's plus runtime edits."""
        ...

    async def availability(self) -> Mapping[str, AgentNow]:
        """Every site agent: registered, in focus, busy."""
        ...


@dataclass(frozen=True, slots=True)
class _Now:
    registered: bool
    in_focus: bool
    busy: bool


@dataclass(frozen=True, slots=True)
class TransferDone:
    """A transfer the PBX took: the other party of `call` is on its way to `number`."""

    request: Request
    call: LiveCall
    number: str
    need: Need | None


async def transfer_call(
    site: Site, port: PbxPort, people: People, request: Request
) -> TransferDone:
    """Move the other party of `request.agent`'s call as the request says.

    Raises UnknownTarget (an unknown agent, queue, hunt group or skill: field `agent`,
    `to` or `skill`), InvalidTransfer, TransferRefused (the agent is on no call, or
    nobody could answer where the call would go; with the reason), and the port's
    errors (PbxRefused when the call ended meanwhile, PbxUnavailable).
    """
    if request.agent not in {a.id for a in site.agents}:
        raise UnknownTarget("agent", f"unknown agent {request.agent!r}")
    calls = await port.calls()
    mine = [c for c in calls if c.agent == request.agent]
    if not mine:
        raise TransferRefused("agent", f"{request.agent} is not on a call")
    if len(mine) > 1:
        # Mid-way through an attended transfer, say: which call to move is not ours
        # to guess.
        raise TransferRefused(
            "agent", f"{request.agent} is on {len(mine)} calls; end all but one first"
        )
    call = mine[0]
    reported = await people.availability()
    # A call the queues did not put through (a direct line) makes the agent just as
    # busy: the PBX's own list of calls says so even where queue state does not.
    on_calls = {c.agent for c in calls}
    agents = {
        agent: _Now(now.registered, now.in_focus, now.busy or agent in on_calls)
        for agent, now in reported.items()
    }
    skills = {a.id: dict(people.skills_of(a.id)) for a in site.agents}
    to_agent = request.target.kind is TargetKind.AGENT
    members = () if to_agent else (await port.snapshot()).members
    decision = decide(site, request, call, agents, skills, members)
    await port.transfer(call, decision.number, attended=request.attended)
    log.info(
        "transfer (%s) of %s's call with %s to %s, dialled as %s%s",
        "attended" if request.attended else "blind", request.agent, call.peer or "unknown",
        request.target, decision.number, f", needing {decision.need}" if decision.need else "",
    )
    return TransferDone(request, call, decision.number, decision.need)
