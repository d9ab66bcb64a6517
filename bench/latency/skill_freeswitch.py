"""The FreeSWITCH side of bench/skill_latency.py: the hand-written skill queue spliced
into the bench's own FreeSWITCH conf, and reading the tier levels mod_callcenter rings by.

The baseline is what an admin writes by hand for the same two phones: a mod_callcenter
queue with our queue's strategy and hold tone and the tier rules a skill queue needs
(tier-rules-apply, tier-rule-wait-second = level_wait, tier-rule-wait-multiply-level,
tier-rule-no-agent-no-wait false), agents of its own for the two phones (contact
`user/<device>@<domain>`, default timers) and static XML tiers at fixed levels: the expert
at tier level 0, the other at 1. (mod_callcenter offers tier level L only once the caller
has waited L x tier-rule-wait-second, so an expert meant to ring at once sits at level 0,
as the engine puts ours.) The number's extension runs `callcenter` straight away.

Ours, as rendered: the number's extension in `tel-from-trunk`, one `multiset`, the same
`callcenter` on the skill queue rendered with the same tier rules, its tiers added by the
engine (neutral level n = tier level n - 1).

FreeSWITCH takes the first `<context>` and `<configuration>` of a name, so the baseline
is spliced into the rendered files (bench/latency/freeswitch.py's `splice`, at the top of
the trunk context) and FreeSWITCH restarted to load it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from xml.sax.saxutils import quoteattr

from latency.freeswitch import Baseline
from telephony.config import Site
from telephony.config.models import SkillQueue
from telephony.freeswitch import names
from telephony.freeswitch.render import QUEUE_TONE
from telephony.freeswitch.strategies import callcenter_strategy

PLAIN_QUEUE = "bench-experts"
PLAIN_NUMBER = "9000"
AGENT_PREFIX = "bench-"
MARK = "<!-- bench/skill_latency.py: hand-written skill queue, removed at the end -->"


def baseline(site: Site, queue: SkillQueue, devices: Sequence[str]) -> Baseline:
    """Agents of their own for `devices`, at tier levels 0, 1, ... in that order."""
    domain = names.domain(site)
    agent_names = tuple(f"{AGENT_PREFIX}{device}" for device in devices)
    extensions = f"""    {MARK}
    <extension name="bench-skill-queue">
      <condition field="destination_number" expression="^{PLAIN_NUMBER}$">
        <action application="callcenter" data="{PLAIN_QUEUE}"/>
      </condition>
    </extension>
"""
    queue_xml = f"""    {MARK}
    <queue name="{PLAIN_QUEUE}">
      <param name="strategy" value="{callcenter_strategy(queue.strategy.value)}"/>
      <param name="moh-sound" value={quoteattr(QUEUE_TONE)}/>
      <param name="tier-rules-apply" value="true"/>
      <param name="tier-rule-wait-second" value="{queue.level_wait}"/>
      <param name="tier-rule-wait-multiply-level" value="true"/>
      <param name="tier-rule-no-agent-no-wait" value="false"/>
    </queue>
"""
    agents = f"    {MARK}\n" + "".join(
        f'    <agent name="{agent}" type="callback" contact="user/{device}@{domain}" '
        'status="Available"/>\n'
        for agent, device in zip(agent_names, devices, strict=True)
    )
    tiers = f"    {MARK}\n" + "".join(
        f'    <tier agent="{agent}" queue="{PLAIN_QUEUE}" level="{level}" position="1"/>\n'
        for level, agent in enumerate(agent_names)
    )
    return Baseline(extensions, queue_xml, agents, tiers, agent_names)


def tier_levels(cli: Callable[[str], str], queue: str) -> dict[str, int]:
    """Agent -> tier level in `queue` (`callcenter_config queue list tiers`)."""
    out = cli(f"callcenter_config queue list tiers {queue}")
    lines = [ln for ln in out.splitlines() if ln and ln != "+OK"]
    if not lines or "agent" not in (header := lines[0].split("|")) or "level" not in header:
        return {}
    agent, level = header.index("agent"), header.index("level")
    return {
        cells[agent]: int(cells[level])
        for ln in lines[1:]
        if len(cells := ln.split("|")) == len(header) and cells[level].lstrip("-").isdigit()
    }


def remove_baseline(cli: Callable[[str], str], base: Baseline) -> None:
    """Take the baseline's tiers and agents out of mod_callcenter's database, which
    outlives FreeSWITCH (XML tiers and agents are written into it at every start)."""
    for agent in base.agent_names:
        cli(f"callcenter_config tier del {PLAIN_QUEUE} {agent}")
        cli(f"callcenter_config agent del {agent}")
