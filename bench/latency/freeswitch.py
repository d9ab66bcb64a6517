"""The FreeSWITCH side of bench/call_latency_freeswitch.py: the hand-written baseline in
the benchmark's own FreeSWITCH conf, the engine's tiers, a restart, per-call agent facts.

The baseline is what an admin would write by hand for the same phones:

    9000  <action application="callcenter" data="bench-plain"/>: a mod_callcenter queue
          with our group's strategy and hold tone, everything else default, and a static
          tier (XML) per agent; the agents are written by hand too (contact
          `user/<device>@<domain>`, type callback, Available, default timers)
    9001  <action application="bridge" data="user/<device>@<domain>"/>
    9002  the same bridge as a line that can fall back, as FreeSWITCH's own example
          dialplan writes one: set hangup_after_bridge and continue_on_fail, bridge with
          the agent's ring timeout, then voicemail. Our direct line does this job; 9001
          is the floor, reported for reference (without continue_on_fail a bridge that
          is not answered ends the call).

The extensions sit at the top of the context trunk calls land in (`tel-from-trunk`),
where an admin's own trunk context would have them. FreeSWITCH takes the first
`<context>` and the first `<configuration>` of a name, so nothing in `local/` can add to
the rendered ones: the bench writes the rendered files with the additions spliced in
(marked, and written back plain at the end) and restarts FreeSWITCH, so mod_callcenter
loads the queue, agents and tiers from XML as at any start. The product templates are
untouched. Our calls pass the three extra regular expressions on their way (microseconds).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import quoteattr

from latency.sip import parse_time
from telephony.config import Site
from telephony.engine.engine import Engine
from telephony.freeswitch import names
from telephony.freeswitch.port import FreeswitchPort
from telephony.freeswitch.render import QUEUE_TONE
from telephony.freeswitch.strategies import callcenter_strategy
from telephony.pbx import LocalPbx, PbxError, PbxInfo
from telephony.port import Join
from telephony.routing.clock import SystemClock
from telephony.testing.trace import Direction, SipMessage

PLAIN_QUEUE = "bench-plain"
PLAIN_QUEUE_NUMBER = "9000"
PLAIN_BRIDGE_NUMBER = "9001"
LINE_BRIDGE_NUMBER = "9002"
AGENT_PREFIX = "bench-"
MARK = "<!-- bench/call_latency_freeswitch.py: hand-written baseline, removed at the end -->"


@dataclass(frozen=True, slots=True)
class Baseline:
    """The XML the baseline adds, and where it goes."""

    extensions: str  # at the top of the trunk context
    queue: str  # into <queues>
    agents: str  # into <agents>
    tiers: str  # into <tiers>
    agent_names: tuple[str, ...]
    contexts: str = ""  # contexts of their own (experiments)

    def as_dict(self) -> dict[str, str]:
        out = {
            "dialplan.xml (top of tel-from-trunk)": self.extensions,
            "callcenter.conf.xml <queues>": self.queue,
            "callcenter.conf.xml <agents>": self.agents,
            "callcenter.conf.xml <tiers>": self.tiers,
        }
        if self.contexts:
            out["dialplan.xml (contexts)"] = self.contexts
        return out


def baseline(
    site: Site,
    group_id: str,
    queue_devices: Sequence[str],
    dial_device: str,
    *,
    extra_extensions: str = "",
    extra_contexts: str = "",
) -> Baseline:
    """The hand-written queue (same phones, same strategy as the group) and bridge.

    `extra_extensions` go into the trunk context too, `extra_contexts` beside it
    (experiments)."""
    group = site.hunt_group(group_id)
    domain = names.domain(site)
    [owner] = [a for a in site.agents if dial_device in {d.id for d in a.devices}]
    ring_timeout = owner.ring_timeout
    mailboxes = names.mailbox_domain(site)
    agent_names = tuple(f"{AGENT_PREFIX}{device}" for device in queue_devices)
    extensions = f"""    {MARK}
    <extension name="bench-plain-queue">
      <condition field="destination_number" expression="^{PLAIN_QUEUE_NUMBER}$">
        <action application="callcenter" data="{PLAIN_QUEUE}"/>
      </condition>
    </extension>
    <extension name="bench-plain-bridge">
      <condition field="destination_number" expression="^{PLAIN_BRIDGE_NUMBER}$">
        <action application="bridge" data="user/{dial_device}@{domain}"/>
      </condition>
    </extension>
    <extension name="bench-line-bridge">
      <condition field="destination_number" expression="^{LINE_BRIDGE_NUMBER}$">
        <action application="set" data="hangup_after_bridge=true"/>
        <action application="set" data="continue_on_fail=true"/>
        <action application="bridge" data="{{originate_timeout={ring_timeout}}}user/{dial_device}@{domain}"/>
        <action application="answer"/>
        <action application="voicemail" data="default {mailboxes} {owner.id}"/>
      </condition>
    </extension>
{extra_extensions}"""
    strategy = callcenter_strategy(group.strategy.value)
    queue = f"""    {MARK}
    <queue name="{PLAIN_QUEUE}">
      <param name="strategy" value="{strategy}"/>
      <param name="moh-sound" value={quoteattr(QUEUE_TONE)}/>
    </queue>
"""
    agents = f"    {MARK}\n" + "".join(
        f'    <agent name="{agent}" type="callback" contact="user/{device}@{domain}" '
        'status="Available"/>\n'
        for agent, device in zip(agent_names, queue_devices, strict=True)
    )
    tiers = f"    {MARK}\n" + "".join(
        f'    <tier agent="{agent}" queue="{PLAIN_QUEUE}" level="1" position="{i}"/>\n'
        for i, agent in enumerate(agent_names, start=1)
    )
    contexts = f"  {MARK}\n{extra_contexts}" if extra_contexts else ""
    return Baseline(extensions, queue, agents, tiers, agent_names, contexts)


def _insert(text: str, anchor: str, addition: str, *, after: bool, what: str) -> str:
    if text.count(anchor) != 1:
        raise SystemExit(f"cannot place the baseline: {what} found {text.count(anchor)} times")
    at = text.index(anchor) + (len(anchor) if after else 0)
    return text[:at] + addition + text[at:]


def splice(rendered: dict[str, str], base: Baseline) -> dict[str, str]:
    """The rendered files with the baseline added (the other files unchanged)."""
    files = dict(rendered)
    files["dialplan.xml"] = _insert(
        files["dialplan.xml"], f'<context name="{names.FROM_TRUNK}">\n', base.extensions,
        after=True, what=f"context {names.FROM_TRUNK}",
    )
    if base.contexts:
        files["dialplan.xml"] = _insert(
            files["dialplan.xml"], "</include>", base.contexts, after=False, what="</include>"
        )
    conf = files["callcenter.conf.xml"]
    conf = _insert(conf, "  </queues>", base.queue, after=False, what="</queues>")
    conf = _insert(conf, "  </agents>", base.agents, after=False, what="</agents>")
    conf = _insert(conf, "  </tiers>", base.tiers, after=False, what="</tiers>")
    files["callcenter.conf.xml"] = conf
    return files


def restart(pbx: LocalPbx, timeout: float = 30.0) -> PbxInfo:
    """Stop FreeSWITCH (`fsctl shutdown`) and start it again on the config in place."""
    pbx.cli("fsctl shutdown")
    deadline = time.monotonic() + timeout
    while pbx.status() is not None:
        if time.monotonic() > deadline:
            pbx.kill()
            break
        time.sleep(0.1)
    return pbx.start_again()


async def sync_tiers(site: Site) -> list[Join]:
    """One `Engine.sync()` over the Event Socket: the roster decides the tiers (as
    `telephony run` does at start); the tiers it added."""
    port = await FreeswitchPort.connect(site)
    try:
        commands = await Engine(site, port, SystemClock()).sync()
    finally:
        await port.close()
    return [c for c in commands if isinstance(c, Join)]


def tier_agents(cli: Callable[[str], str], queue: str) -> set[str]:
    """Agents with a tier in `queue` (`callcenter_config queue list tiers`)."""
    out = cli(f"callcenter_config queue list tiers {queue}")
    lines = [ln for ln in out.splitlines() if ln and ln != "+OK"]
    if not lines:
        return set()
    header = lines[0].split("|")
    if "agent" not in header:
        return set()
    column = header.index("agent")
    return {cells[column] for ln in lines[1:] if len(cells := ln.split("|")) == len(header)}


def check_setup(pbx: LocalPbx, site: Site, group_id: str, base: Baseline,
                engine_agents: Iterable[str]) -> None:
    """Fail early if the baseline or the engine's tiers did not take."""
    shown = pbx.cli(f"xml_locate dialplan context name {names.FROM_TRUNK}")
    for number in (PLAIN_QUEUE_NUMBER, PLAIN_BRIDGE_NUMBER, LINE_BRIDGE_NUMBER):
        if f"^{number}$" not in shown:
            raise SystemExit(f"baseline {number} not in {names.FROM_TRUNK}:\n{shown}")
    queues = pbx.cli("callcenter_config queue list")
    if f"\n{PLAIN_QUEUE}|" not in queues:
        raise SystemExit(f"queue {PLAIN_QUEUE} not loaded:\n{queues}")
    for queue, wanted in ((PLAIN_QUEUE, set(base.agent_names)), (group_id, set(engine_agents))):
        found = tier_agents(pbx.cli, queue)
        if not wanted <= found:
            raise SystemExit(f"queue {queue} lacks tiers for {sorted(wanted - found)}")


def remove(pbx: LocalPbx, joins: Iterable[Join], base: Baseline | None) -> None:
    """Take out again the tiers the engine added and the baseline's agents (and their
    tiers) from mod_callcenter's database, which outlives FreeSWITCH."""
    for join in joins:
        pbx.cli(f"callcenter_config tier del {join.queue} {join.agent}")
    if base is not None:
        for agent in base.agent_names:
            pbx.cli(f"callcenter_config tier del {PLAIN_QUEUE} {agent}")
            pbx.cli(f"callcenter_config agent del {agent}")


@dataclass(frozen=True, slots=True)
class AgentCall:
    """One call as an agent phone saw it."""

    device: str
    invite_at: datetime
    ended_at: datetime | None  # the phone's BYE (it hangs up after its hold)


def agent_calls(
    traces: Iterable[tuple[str, Sequence[SipMessage]]],
    placed: Mapping[str, datetime] | None = None,
) -> dict[str, AgentCall]:
    """Caller number -> the first agent phone rung for it, when, and when it hung up.

    With `placed` (caller number -> when its INVITE left), an agent INVITE from before
    that moment is not this call's (a caller number seen earlier) and is skipped."""
    out: dict[str, AgentCall] = {}
    for device, messages in traces:
        invites: dict[str, tuple[str, datetime]] = {}
        ended: dict[str, datetime] = {}
        for m in messages:
            if m.direction is Direction.RECEIVED and m.method == "INVITE" and m.to_tag is None:
                invites.setdefault(m.call_id, (m.from_user, parse_time(m.timestamp)))
            elif m.direction is Direction.SENT and m.method == "BYE":
                ended.setdefault(m.call_id, parse_time(m.timestamp))
        for call_id, (caller, at) in invites.items():
            if placed is not None and caller in placed and at < placed[caller]:
                continue
            if caller not in out or at < out[caller].invite_at:
                out[caller] = AgentCall(device, at, ended.get(call_id))
    return out


def freeswitch_version(pbx: LocalPbx) -> str:
    try:
        out = pbx.cli("version").strip()
    except PbxError:
        return "?"
    return out.split(" (", 1)[0].removeprefix("FreeSWITCH Version ")
