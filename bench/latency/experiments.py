"""Optional extra variants (--explain) that split ours into its parts.

Each one differs from a neighbour in one respect, so the differences between their
latencies say where our extra time goes:

    9010  Queue(rota) straight from tel-numbers      ours minus the Goto/Gosub wrapper
    9011  plain queue, our Local members + hint state the cost of Local-channel members
    9012  our rendered queue settings, PJSIP members  the cost of our queue settings
    9013  our whole hunt-group path, but PJSIP/<device> members (hint state kept):
          a candidate change to the engine's members for one-device agents
    9020  Gosub(tel-try-agent-<agent>) straight       ours minus the Goto and outer Gosub
    9021  ours with a leaner focus check             a candidate change to the template
    9022  Gosub into a bare Dial                     the cost of the Gosub frame alone
    9023  one GotoIf(DB_EXISTS(...)), then Dial      the cost of the AstDB lookup alone

Like the baseline they live only in the local files, for the length of the run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from latency.sip import Variant
from telephony.asterisk import names
from telephony.asterisk.render import render
from telephony.config import Site


@dataclass(frozen=True, slots=True)
class Experiments:
    queues: str
    dialplan: str
    variants: list[Variant]


def rendered_section(site: Site, filename: str, name: str) -> str:
    """The body lines of one rendered section (comments and blank lines dropped)."""
    text = render(site)[filename]
    match = re.search(rf"^\[{re.escape(name)}\]\n(.*?)(?=^\[|\Z)", text, re.MULTILINE | re.DOTALL)
    if match is None:
        raise KeyError(name)
    lines = [ln for ln in match.group(1).splitlines() if ln.strip() and not ln.startswith(";")]
    return "\n".join(lines)


def experiments(site: Site, group_id: str, agent_id: str) -> Experiments:
    group = next(g for g in site.hunt_groups if g.id == group_id)
    agents = {a.id: a for a in site.agents}
    agent = agents[agent_id]
    if agent.focus_allow:
        raise ValueError("the lean focus check below does not copy focus_allow")
    dial = "&".join(f"PJSIP/{d.id}" for d in agent.devices)
    local_members = "\n".join(
        f"member => Local/{agents[a].extension}@{names.MEMBER}/n,0,{a},"
        f"{names.state_interface(agents[a])}"
        for a in group.roster
    )
    pjsip_members = "\n".join(f"member => PJSIP/{agents[a].devices[0].id}" for a in group.roster)
    # What the engine could add for an agent with one device: the device itself, keeping
    # the hint as state interface (so busy/unavailable work exactly as now).
    direct_members = "\n".join(
        f"member => PJSIP/{agents[a].devices[0].id},0,{a},{names.state_interface(agents[a])}"
        for a in group.roster
    )
    try_hunt_context = names.try_hunt_context(group.id)
    hunt = rendered_section(site, "extensions.conf", names.hunt_context(group.id)).replace(
        try_hunt_context, f"bench-try-hunt-{group.id}"
    )
    try_hunt = rendered_section(site, "extensions.conf", try_hunt_context).replace(
        f"Queue({group.id},", f"Queue(bench-{group.id}-direct,"
    )
    queues = f"""
[bench-local]
strategy=rrmemory
timeout=5
ringinuse=no
{local_members}

[bench-{group.id}-pjsip]
{rendered_section(site, "queues.conf", group.id)}
{pjsip_members}

[bench-{group.id}-direct]
{rendered_section(site, "queues.conf", group.id)}
{direct_members}
"""
    # The rendered tel-agent/tel-try pair with one change: the common case (no focus, or
    # urgent) decides in one GotoIf and goes straight to Dial; the caller number is only
    # filtered when the focus rules need it.
    dialplan = f"""exten => 9010,1,Queue({group.id},r,,,{group.max_wait})
exten => 9011,1,Queue(bench-local,r)
exten => 9012,1,Queue(bench-{group.id}-pjsip,r,,,{group.max_wait})
exten => 9013,1,Goto(bench-hunt-{group.id},s,1)
exten => 9020,1,Gosub({names.try_agent_context(agent.id)},s,1)
exten => 9021,1,Goto(bench-agent-{agent.id},s,1)
exten => 9022,1,Gosub(bench-dial-{agent.id},s,1)
exten => 9023,1,GotoIf(${{DB_EXISTS(telephony/focus/{agent.id})}}?:ring)
 same => n(ring),Dial({dial},{agent.ring_timeout})
exten => 9024,1,GotoIf($["${{DEVICE_STATE(Custom:tel-focus-{agent.id})}}" = "BUSY"]?:ring)
 same => n(ring),Dial({dial},{agent.ring_timeout})

[bench-dial-{agent.id}]
exten => s,1,Dial({dial},{agent.ring_timeout})
 same => n,Return(${{DIALSTATUS}})

[bench-hunt-{group.id}]
{hunt}

[bench-try-hunt-{group.id}]
{try_hunt}

[bench-agent-{agent.id}]
exten => s,1,Gosub(bench-try-{agent.id},s,1)
 same => n,GotoIf($["${{GOSUB_RETVAL}}" = "ANSWER"]?done)
 same => n,Set(TEL_LAST=${{GOSUB_RETVAL}})
 same => n,Hangup(${{IF($["${{TEL_LAST}}" = "BUSY"]?17:19)}})
 same => n(done),Hangup()

[bench-try-{agent.id}]
exten => s,1,GotoIf($["${{TEL_URGENT}}" != "1" & ${{DB_EXISTS(telephony/focus/{agent.id})}}]?check)
 same => n(ring),Dial({dial},{agent.ring_timeout})
 same => n,Return(${{DIALSTATUS}})
 same => n(check),Set(LOCAL(TEL_CALLER)=${{FILTER(0-9+,${{CALLERID(num)}})}})
 same => n,GotoIf($[${{DB_RESULT}} > 0 & ${{DB_RESULT}} <= ${{EPOCH}}]?ring)
 same => n,GotoIf($["${{TEL_CALLER}}" = ""]?focus)
 same => n,GotoIf(${{DB_EXISTS(telephony/case/${{TEL_CALLER}})}}?:focus)
 same => n,GotoIf($["${{DB_RESULT}}" = "{agent.id}"]?ring)
 same => n(focus),Verbose(1,telephony: {agent.id} in focus, caller ${{TEL_CALLER}} not allowed)
 same => n,Return(FOCUS)
"""
    variants = [
        Variant(f"x: Queue({group.id}) without Goto/Gosub", "9010"),
        Variant("x: plain queue, Local members", "9011"),
        Variant("x: our queue settings, PJSIP members", "9012"),
        Variant(f"x: hunt group {group.id}, device members", "9013"),
        Variant("x: Gosub(tel-try) without Goto", "9020"),
        Variant("x: ours with lean focus check", "9021"),
        Variant("x: Gosub to a bare Dial", "9022"),
        Variant("x: DB_EXISTS GotoIf, then Dial", "9023"),
        Variant("x: Custom device state GotoIf, then Dial", "9024"),
    ]
    return Experiments(queues, dialplan, variants)
