"""Render a site to FreeSWITCH configuration: directory, dialplan, mod_callcenter,
the SIP profile, the trunks' ACL and the Event Socket.

Each file stands alone (an `<include>` or a `<configuration>`), so it can be dropped
into any FreeSWITCH's conf tree; the local runner adds the base files around them
(`telephony.freeswitch.runner.conf`). The dialplan decides every call from state the
engine keeps in mod_db (`telephony.freeswitch.names`), so a call never waits on the
engine and still routes while it is down.

Every value goes through Jinja's XML escaping (names may hold & < > ' and any
Unicode); comments never carry a site value, as `--` would end an XML comment.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

import jinja2

from telephony import __version__
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
from telephony.freeswitch import names
from telephony.freeswitch.strategies import callcenter_strategy
from telephony.render.templates import template_dir

FILES = (
    "directory.xml",
    "dialplan.xml",
    "callcenter.conf.xml",
    "sofia.conf.xml",
    "acl.conf.xml",
    "event_socket.conf.xml",
)

# What a caller waiting in a queue hears: a ringback tone (no sound files needed).
QUEUE_TONE = "tone_stream://%(2000,4000,440,480);loops=-1"
# What a caller hears once their callback request is stored: two short beeps.
CALLBACK_TONE = "tone_stream://%(200,100,880);loops=2"
# What a phone key plays once done: two rising beeps.
KEY_TONE = "tone_stream://%(150,100,880);%(150,0,1320)"
# A plain caller number, the only kind a callback request is stored for.
PLAIN_NUMBER = r"^\+?[0-9]{1,20}$"


@dataclass(frozen=True, slots=True)
class Action:
    """One dialplan action: an application and its argument."""

    application: str
    data: str


def _numbers(numbers: Iterable[str], prefix: str = "") -> str:
    """A regular expression matching exactly these numbers (each after `prefix`)."""
    alternatives = "|".join(re.escape(prefix + number) for number in numbers)
    return f"^(?:{alternatives})$"


def _steps(steps: list[FallbackStep], owner_id: str, site: Site) -> list[Action]:
    """A fallback chain as actions: each step but voicemail returns (execute_extension)
    with `tel_last` saying how it went; a caller who was answered is hung up after the
    call, so the chain goes on only while nobody answered."""
    out: list[Action] = []
    for step in steps:
        if isinstance(step, ColleagueStep):
            out.append(Action("execute_extension",
                              f"s XML {names.try_agent_context(step.colleague)}"))
        elif isinstance(step, HuntGroupStep):
            out.append(Action("execute_extension",
                              f"s XML {names.try_hunt_context(step.hunt_group)}"))
        elif isinstance(step, QueueStep):
            out.append(Action("execute_extension",
                              f"s XML {names.try_queue_context(step.queue)}"))
        elif isinstance(step, VoicemailStep):
            # mod_voicemail would take the message in early media; a mailbox answers.
            out.append(Action("answer", ""))
            out.append(Action("voicemail", f"{names.VOICEMAIL_PROFILE} "
                              f"{names.mailbox_domain(site)} {owner_id}"))
    out.append(Action("transfer", f"s XML {names.END}"))
    return out


def _entry_vars(queue: HuntGroup | SkillQueue) -> str:
    """What a caller takes into a queue (one multiset): hung up after an answered call,
    the ring time mod_callcenter's call to an agent exports, and for a skill queue with
    a callback key the key (mod_callcenter leaves on it, setting cc_exit_key) and the
    time the caller joined (the callback request's value)."""
    words = [
        "hangup_after_bridge=true",
        f"tel_ring_timeout={queue.ring_timeout}",
        "cc_export_vars=tel_ring_timeout",
    ]
    if isinstance(queue, SkillQueue) and queue.callback_key is not None:
        # cc_exit_key emptied: a key pressed in an earlier queue of the call is not this one.
        words += [
            f"cc_exit_keys={queue.callback_key}", "cc_exit_key=", "tel_joined=${strepoch()}",
        ]
    return " ".join(words)


def _after_queue(queue: HuntGroup | SkillQueue) -> list[Action]:
    """What runs as soon as a caller left a skill queue with a callback key: the
    callback context stores the request (and ends the call) when they left on the key,
    else returns at once."""
    if isinstance(queue, SkillQueue) and queue.callback_key is not None:
        return [Action("execute_extension", f"s XML {names.callback_context(queue.id)}")]
    return []


def _tier_rules(queue: HuntGroup | SkillQueue) -> dict[str, str]:
    """mod_callcenter's tier rules: a skill queue's levels join the ringing one after
    another, tier level L once the caller has waited L x level_wait seconds (whatever
    the levels before it are doing), so the port puts a member of level n at tier
    level n - 1. A hunt group (or a skill queue without level_wait) offers every level
    at once, the levels only ordering the agents."""
    if isinstance(queue, SkillQueue) and queue.level_wait > 0:
        return {
            "tier-rules-apply": "true",
            "tier-rule-wait-second": str(queue.level_wait),
            "tier-rule-wait-multiply-level": "true",
            "tier-rule-no-agent-no-wait": "false",
        }
    return {
        "tier-rules-apply": "false",
        "tier-rule-wait-second": "0",
        "tier-rule-wait-multiply-level": "false",
        "tier-rule-no-agent-no-wait": "true",
    }


def _strategy(queue: HuntGroup | SkillQueue) -> str:
    """mod_callcenter's strategy for a queue.

    Under tier rules its round-robin would hold a caller back: it looks first at the
    agents after the one last offered a call, on that agent's level, and a level not
    yet allowed ends the search. Once a level-2 member took a call, the next caller
    would wait level_wait before anyone rang and then ring level 2 before level 1. A
    skill queue with levels therefore takes turns by longest idle, which walks the
    levels in order (tests/pbx/test_skill_queues.py)."""
    name = callcenter_strategy(queue.strategy.value)
    if name == "round-robin" and _tier_rules(queue)["tier-rules-apply"] == "true":
        return "longest-idle-agent"
    return name


def _wrapup(agent: Agent, site: Site) -> int:
    """mod_callcenter rests an agent after every queue call for one wrap-up time of the
    agent's own, not the queue's: the longest among the groups that can hold them."""
    seconds = [g.wrapup_seconds for g in site.hunt_groups if agent.id in g.roster]
    seconds += [q.wrapup_seconds for q in site.queues
                if agent.skills.get(q.skill, 0) >= q.min_level]
    return max(seconds, default=0)


def _cidr(match: str) -> str:
    """An ACL node's cidr: a bare address becomes its own /32 or /128 network."""
    return str(ipaddress.ip_network(match, strict=True))


def sip_ip(site: Site) -> str:
    """The address the SIP profile (and its RTP) binds. A FreeSWITCH profile listens on
    one address: 0.0.0.0 or :: stand for the machine's own (FreeSWITCH's
    $${local_ip_v4} or $${local_ip_v6})."""
    host = site.pbx.sip_host
    if ipaddress.ip_address(host).is_unspecified:
        return "$${local_ip_v6}" if ":" in host else "$${local_ip_v4}"
    return host


@cache
def _environment() -> jinja2.Environment:
    # Its own environment: the Asterisk one does not escape (its files are not XML).
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dir()),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=True,
    )


def render(site: Site) -> dict[str, str]:
    """Render every FreeSWITCH file for a site; the same site always gives the same bytes.

    The site must have passed `telephony check` as kind freeswitch (a strategy
    mod_callcenter cannot honour raises KeyError here).
    """
    env = _environment()
    queues: list[HuntGroup | SkillQueue] = [*site.hunt_groups, *site.queues]
    context = {
        "version": __version__,
        "site": site,
        "names": names,
        "domain": names.domain(site),
        "mailbox_domain": names.mailbox_domain(site),
        "secret": lambda s: s.get_secret_value(),
        "numbers": _numbers,
        "dial_string": lambda agent: names.dial_string(agent, site),
        "device_dial_string": lambda agent: names.device_dial_string(agent, site),
        "presence_id": lambda agent: names.presence_id(agent, site),
        "feature_code": names.feature_code,
        "agent_groups": {
            a.id: [g for g in site.hunt_groups if a.id in g.roster] for a in site.agents
        },
        "key_tone": KEY_TONE,
        "agent_steps": {a.id: _steps(a.fallback, a.id, site) for a in site.agents},
        "group_steps": {g.id: _steps(g.fallback, g.id, site) for g in site.hunt_groups},
        "queue_steps": {q.id: _steps(q.fallback, q.id, site) for q in site.queues},
        "entry_vars": _entry_vars,
        "after_queue": _after_queue,
        "tier_rules": _tier_rules,
        "callback_queues": [q for q in site.queues if q.callback_key is not None],
        "callback_tone": CALLBACK_TONE,
        "plain_number": PLAIN_NUMBER,
        "queues": queues,
        "queue_contexts": [(names.try_hunt_context(g.id), g) for g in site.hunt_groups]
        + [(names.try_queue_context(q.id), q) for q in site.queues],
        "strategy": _strategy,
        "wrapup": lambda agent: _wrapup(agent, site),
        "queue_tone": QUEUE_TONE,
        "trunk_networks": [_cidr(m) for t in site.trunks for m in t.match_ip],
        "sip_ip": sip_ip(site),
    }
    return {
        name: env.get_template(f"freeswitch/{name}.j2").render(context) for name in FILES
    }
