"""Render a site to Asterisk configuration: pjsip, extensions, queues, queue rules,
manager, voicemail.

The dialplan decides every call from state the engine keeps in Asterisk (AstDB keys
under `telephony/`), so a call never waits on the engine and still works while it is
down. The keys are documented in `telephony.asterisk.astdb`.
"""

from __future__ import annotations

from dataclasses import dataclass

from telephony import __version__
from telephony.asterisk import astdb, names
from telephony.config.models import (
    Agent,
    ColleagueStep,
    FallbackStep,
    HuntGroup,
    HuntGroupStep,
    QueueStep,
    Site,
    SkillQueue,
    VoicemailStep,
)
from telephony.render.templates import environment

FILES = (
    "pjsip.conf", "extensions.conf", "queues.conf", "queuerules.conf", "manager.conf",
    "voicemail.conf",
)

# A skill queue's deepest level: `level` runs 1-5, app_queue penalties 0-4.
MAX_PENALTY = 4

# A plain caller number, the only kind a callback request is stored for (REGEX()
# syntax: no backslash, which Asterisk's config parser would eat).
PLAIN_NUMBER = "^[+]?[0-9]{1,20}$"


@dataclass(frozen=True, slots=True)
class _Step:
    """One rendered fallback step: a Gosub that returns, or a terminal application."""

    comment: str
    gosub: str | None = None
    terminal: str | None = None


def dial_string(agent: Agent) -> str:
    """The Dial() argument that rings every device of an agent at once."""
    return "&".join(f"PJSIP/{device.id}" for device in agent.devices)


def _steps(steps: list[FallbackStep], owner_id: str) -> list[_Step]:
    out: list[_Step] = []
    for step in steps:
        if isinstance(step, ColleagueStep):
            target = names.try_agent_context(step.colleague)
            out.append(_Step(f"colleague {step.colleague}", gosub=f"{target},s,1"))
        elif isinstance(step, HuntGroupStep):
            target = names.try_hunt_context(step.hunt_group)
            out.append(_Step(f"hunt group {step.hunt_group}", gosub=f"{target},s,1"))
        elif isinstance(step, QueueStep):
            target = names.try_queue_context(step.queue)
            out.append(_Step(f"queue {step.queue}", gosub=f"{target},s,1"))
        elif isinstance(step, VoicemailStep):
            out.append(_Step("voicemail", terminal=f"VoiceMail({names.mailbox(owner_id)},u)"))
    return out


def penalty_steps(queue: SkillQueue) -> list[tuple[int, int]]:
    """(seconds after the caller joined, penalty) for each level below the first: level
    n (penalty n-1) joins the ringing (n-1) x level_wait seconds in. Empty when
    level_wait is 0: then every level rings at once.

    A step raises both QUEUE_MAX_PENALTY (who may ring) and QUEUE_RAISE_PENALTY (lower
    penalties count as this one): app_queue rings only the lowest penalty among the
    members free to answer, so without the raise a level would ring only when every
    level before it is busy, not alongside them."""
    if queue.level_wait == 0:
        return []
    return [(queue.level_wait * n, n) for n in range(1, MAX_PENALTY + 1)]


def skill_queue_options(queue: SkillQueue) -> list[str]:
    """queues.conf lines of a skill queue beyond those of every queue."""
    lines: list[str] = []
    if penalty_steps(queue):
        lines.append(f"defaultrule={names.levels_rule(queue.id)}")
    if queue.callback_key is not None:
        lines += [
            "; The callback key: app_queue leaves to this context when it is an extension there.",
            f"context={names.callback_context(queue.id)}",
        ]
    return lines


def skill_queue_entry(queue: SkillQueue, here: str) -> list[str]:
    """The dialplan steps that put a caller into a skill queue (from priority 1, as
    `1,App` / `n,App`), in the context `here`; the caller comes back at `left`."""
    apps: list[str] = []
    if queue.callback_key is not None:
        apps += [
            "Set(TEL_JOINED=${EPOCH}) ; a callback request keeps when the caller joined",
            f"Set(TEL_LEFT={here},s,left) ; where a caller who cannot be called back goes on",
            "Answer() ; a key (RFC 4733 or SIP INFO) needs an answered call",
        ]
    if penalty_steps(queue):
        # Both set here: a rule changes only the variables the dialplan set.
        apps.append(
            "MSet(QUEUE_MAX_PENALTY=0,QUEUE_RAISE_PENALTY=0) ; level 1 first, "
            f"then {names.levels_rule(queue.id)} in queuerules.conf"
        )
    else:
        apps.append(f"Set(QUEUE_RAISE_PENALTY={MAX_PENALTY}) ; every level at once")
    apps.append(f"Queue({queue.id},r,,,{queue.max_wait})")
    return [f"{'1' if i == 0 else 'n'},{app}" for i, app in enumerate(apps)]


def sip_bind(site: Site) -> str:
    """The transport's bind address: an IPv6 address goes in brackets before the port."""
    host = site.pbx.sip_host
    return f"[{host}]:{site.pbx.sip_port}" if ":" in host else f"{host}:{site.pbx.sip_port}"


@dataclass(frozen=True, slots=True)
class ResourceList:
    """One pjsip.conf resource list (RFC 4662): a team a phone watches with one
    subscription."""

    name: str
    event: str
    comment: str
    extensions: tuple[str, ...]


def resource_lists(site: Site) -> list[ResourceList]:
    """A BLF (dialog) and a presence list for the whole site and for each hunt group's
    rostered agents; none for an empty team."""
    teams: list[tuple[str | None, str, list[Agent]]] = [(None, "every agent", site.agents)]
    for group in site.hunt_groups:
        agents = [a for a in site.agents if a.id in group.roster]
        teams.append((group.id, f"hunt group {group.id}", agents))
    lists: list[ResourceList] = []
    for group_id, comment, agents in teams:
        if not agents:
            continue
        extensions = tuple(a.extension for a in agents)
        lists.append(ResourceList(names.dialog_list(group_id), "dialog", comment, extensions))
        lists.append(ResourceList(names.presence_list(group_id), "presence", comment, extensions))
    return lists


def render(site: Site, *, include_mode: bool = False) -> dict[str, str]:
    """Render every Asterisk file for a site; the same site always gives the same bytes.

    `include_mode` renders the files `telephony deploy` puts in a folder of their own
    under an administrator's configuration directory, each included from the main file
    of the same name: without the sections that are the administrator's to set (the
    `[general]` of extensions, queues, manager and voicemail, `[globals]`, PJSIP's
    `[global]`) and without our own transport (endpoints use the administrator's), and
    without the `-local.conf` includes (the administrator's main files are theirs)."""
    env = environment()
    command = "telephony deploy" if include_mode else "telephony render"
    header = (
        f"; Generated by telephony {__version__} from site '{site.site}'.\n"
        f"; Do not edit: change the site file and run `{command}` again.\n"
    )
    context = {
        "include_mode": include_mode,
        "header": header,
        "site": site,
        "secret": lambda s: s.get_secret_value(),
        "dial_string": dial_string,
        "agent_steps": {a.id: _steps(a.fallback, a.id) for a in site.agents},
        "group_steps": {g.id: _steps(g.fallback, g.id) for g in site.hunt_groups},
        "queue_steps": {q.id: _steps(q.fallback, q.id) for q in site.queues},
        "penalty_steps": penalty_steps,
        "skill_queue_entry": skill_queue_entry,
        "skill_queue_options": skill_queue_options,
        "plain_number": PLAIN_NUMBER,
        "queue_name": _queue_name,
        "db": astdb,
        "names": names,
        "sip_bind": sip_bind(site),
        "agent_groups": {
            a.id: [g for g in site.hunt_groups if a.id in g.roster] for a in site.agents
        },
        "member_interface": names.member_interface,
        "zone_of": lambda g: g.timezone or site.timezone,
        "key_event": names.KEY_EVENT,
        "resource_lists": resource_lists(site),
    }
    return {name: env.get_template(f"asterisk/{name}.j2").render(context) for name in FILES}


def _queue_name(entry: HuntGroup | SkillQueue) -> str:
    return entry.id
