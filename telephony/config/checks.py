"""Checks that span several entries of a site: unique ids and numbers, known references."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from telephony.config.models import (
    ColleagueStep,
    FallbackStep,
    HuntGroupStep,
    PbxKind,
    QueueStep,
    Site,
    VoicemailStep,
    is_loopback,
)
from telephony.config.problems import Problem

# Ids that would name one of Asterisk's own sections, not ours. Ids become PJSIP
# endpoint/auth/aor/identify sections (devices, trunks), queues.conf sections (hunt
# groups, queues) and the manager.conf user section (control_username).
RESERVED_IDS = {
    "anonymous": "PJSIP lets every caller it cannot identify in as the endpoint of that name",
    "general": "it is the settings section of queues.conf and manager.conf",
    "global": "it is the settings section of pjsip.conf",
    "system": "it is PJSIP's system section",
}
RESERVED_PREFIX = "tel-"


def reserved(value: str) -> str | None:
    """Why an id cannot be used, or None when it can."""
    if value.startswith(RESERVED_PREFIX):
        return f"ids starting with {RESERVED_PREFIX!r} are kept for the names telephony generates"
    return RESERVED_IDS.get(value)


def cross_check(site: Site) -> Iterator[Problem]:
    """Checks that span several entries: unique ids and numbers, known references."""
    ids: dict[str, str] = {}
    numbers: dict[str, str] = {}

    def claim_id(value: str, path: str) -> Iterator[Problem]:
        why = reserved(value)
        if why is not None:
            yield Problem(path, f"{value!r} is reserved: {why}")
        elif value in ids:
            yield Problem(path, f"id {value!r} is already used by {ids[value]}")
        else:
            ids[value] = path.removesuffix(".id")

    def claim_number(value: str, path: str) -> Iterator[Problem]:
        if value in numbers:
            yield Problem(path, f"number {value} is already used by {numbers[value]}")
        else:
            numbers[value] = path

    for i, agent in enumerate(site.agents):
        yield from claim_id(agent.id, f"agents[{i}].id")
        yield from claim_number(agent.extension, f"agents[{i}].extension")
        yield from claim_number(agent.direct_line, f"agents[{i}].direct_line")
        for j, device in enumerate(agent.devices):
            yield from claim_id(device.id, f"agents[{i}].devices[{j}].id")
        seen: set[str] = set()
        for j, number in enumerate(agent.focus_allow):
            if number in seen:
                yield Problem(f"agents[{i}].focus_allow[{j}]", f"{number} is listed twice")
            seen.add(number)
    for i, group in enumerate(site.hunt_groups):
        yield from claim_id(group.id, f"hunt_groups[{i}].id")
        yield from claim_number(group.number, f"hunt_groups[{i}].number")
    for i, queue in enumerate(site.queues):
        yield from claim_id(queue.id, f"queues[{i}].id")
        yield from claim_number(queue.number, f"queues[{i}].number")
    for i, trunk in enumerate(site.trunks):
        yield from claim_id(trunk.id, f"trunks[{i}].id")
        if trunk.match_header is None and not trunk.match_ip:
            yield Problem(f"trunks[{i}]", "needs match_header or match_ip to be recognised")
    why = reserved(site.pbx.control_username)
    if why is not None:
        yield Problem("pbx.control_username", f"{site.pbx.control_username!r} is reserved: {why}")
    if site.pbx.control_port == site.api.port:
        yield Problem("api.port", f"{site.api.port} is already pbx.control_port (both listen on TCP)")

    yield from _references(site)
    yield from _api(site)
    if site.pbx.kind is PbxKind.FREESWITCH:
        yield from _freeswitch(site)


# Why a trunk cannot be recognised by a header on FreeSWITCH (see _freeswitch).
TRUNK_HEADER_ON_FREESWITCH = (
    "FreeSWITCH cannot recognise a trunk by a header: mod_sofia asks every caller it "
    "cannot place by address for a password before any header is looked at, so give "
    "the trunk's addresses as match_ip instead"
)


def _freeswitch(site: Site) -> Iterator[Problem]:
    """What a site asks that FreeSWITCH cannot honour (the same site may suit Asterisk)."""
    from telephony.freeswitch.strategies import REFUSED

    strategies = [(f"hunt_groups[{i}]", g.strategy) for i, g in enumerate(site.hunt_groups)]
    strategies += [(f"queues[{i}]", q.strategy) for i, q in enumerate(site.queues)]
    for path, strategy in strategies:
        why = REFUSED.get(strategy.value)
        if why is not None:
            yield Problem(f"{path}.strategy", f"{strategy.value}: {why}")
    for i, trunk in enumerate(site.trunks):
        if trunk.match_header is not None:
            yield Problem(f"trunks[{i}].match_header", TRUNK_HEADER_ON_FREESWITCH)


def _references(site: Site) -> Iterator[Problem]:
    agent_ids = {a.id for a in site.agents}
    group_ids = {g.id for g in site.hunt_groups}
    queue_ids = {q.id for q in site.queues}

    def check_steps(
        steps: list[FallbackStep], path: str, self_id: str | None, self_queue: str | None = None
    ) -> Iterator[Problem]:
        for k, step in enumerate(steps):
            where = f"{path}.fallback[{k}]"
            if isinstance(step, VoicemailStep) and k != len(steps) - 1:
                yield Problem(where, "voicemail ends the call, so it must be the last step")
            elif isinstance(step, ColleagueStep):
                if step.colleague not in agent_ids:
                    yield Problem(f"{where}.colleague", f"unknown agent {step.colleague!r}")
                elif step.colleague == self_id:
                    yield Problem(f"{where}.colleague", "an agent cannot fall back to themselves")
            elif isinstance(step, HuntGroupStep):
                if step.hunt_group not in group_ids:
                    yield Problem(f"{where}.hunt_group", f"unknown hunt group {step.hunt_group!r}")
                elif step.hunt_group == self_id:
                    yield Problem(f"{where}.hunt_group", "a hunt group cannot fall back to itself")
            elif isinstance(step, QueueStep):
                if step.queue not in queue_ids:
                    yield Problem(f"{where}.queue", f"unknown queue {step.queue!r}")
                elif step.queue == self_queue:
                    yield Problem(f"{where}.queue", "a queue cannot overflow to itself")

    for i, agent in enumerate(site.agents):
        yield from check_steps(agent.fallback, f"agents[{i}]", agent.id)
    dialled_out = any(t.dial_host for t in site.trunks)
    for i, queue in enumerate(site.queues):
        yield from check_steps(queue.fallback, f"queues[{i}]", None, queue.id)
        if queue.callback_key is not None and not dialled_out:
            yield Problem(f"queues[{i}].callback_key",
                          "a callback dials the caller out: give a trunk a dial_host")
    for i, group in enumerate(site.hunt_groups):
        yield from check_steps(group.fallback, f"hunt_groups[{i}]", group.id)
        for agent_id, week in group.roster.items():
            base = f"hunt_groups[{i}].roster.{agent_id}"
            if agent_id not in agent_ids:
                yield Problem(base, f"unknown agent {agent_id!r}")
            for day, ranges in week.items():
                if len(ranges) < 2:
                    continue
                ordered = sorted(enumerate(ranges), key=lambda p: p[1].start_minutes)
                for (_, a), (k, b) in itertools.pairwise(ordered):
                    if b.start_minutes < a.end_minutes:
                        yield Problem(f"{base}.{day.value}[{k}]", f"{b} overlaps {a}")


def _api(site: Site) -> Iterator[Problem]:
    """API tokens name known agents and differ; beyond loopback the API needs them."""
    api = site.api
    if not api.tokens and not is_loopback(api.host):
        yield Problem("api.host", f"{api.host} is reachable from other machines: give "
                      "api.tokens (anyone reaching it could change anything) or bind to "
                      "127.0.0.1")
    agent_ids = {a.id for a in site.agents}
    seen: dict[tuple[str, bytes, bytes], int] = {}
    for i, entry in enumerate(api.tokens):
        if entry.agent is not None and entry.agent not in agent_ids:
            yield Problem(f"api.tokens[{i}].agent", f"unknown agent {entry.agent!r}")
        digest = entry.digest
        key = (digest.scheme, digest.salt, digest.digest)
        field = "token" if entry.token is not None else "token_hash"
        if key in seen:
            # The same token for two entries would make whose it is a guess.
            yield Problem(f"api.tokens[{i}].{field}",
                          f"the same token as api.tokens[{seen[key]}]: give each its own")
        else:
            seen[key] = i
