"""Optional extra variants (--explain) that split our FreeSWITCH paths into their parts.

Each differs from a neighbour in one respect, so the differences between their latencies
say where our extra time goes. All are trunk numbers in `tel-from-trunk`, like the
baseline, and live only in the bench's conf for the length of the run:

    9010  transfer to tel-agent-<agent>             ours minus the hop through tel-numbers
    9011  execute_extension s tel-try-agent-<agent> the gate and the ring, nothing around
    9012  execute_extension ring tel-try-agent-...  the ring extension alone (no mod_db)
    9013  its actions inline (set, set, bridge with originate_timeout)
    9014  set ${db(select/...)} inline, then bridge  the mod_db look-up alone
    9015  transfer to a context that only bridges    one transfer alone
    9016  execute_extension of a context that bridges one execute_extension alone
    9017  set ${hash(select/...)} inline, then bridge an in-memory look-up instead
    9018  two db selects inline, then bridge          the marginal mod_db look-up
    9019  ours flattened: one extension, the db look-up, its condition, the ring actions
    9020  callcenter <group> straight                our queue and tiers, no dialplan around
"""

from __future__ import annotations

from dataclasses import dataclass

from latency.sip import Variant
from telephony.config import Site
from telephony.freeswitch import names


@dataclass(frozen=True, slots=True)
class Experiments:
    extensions: str
    contexts: str
    variants: list[Variant]


Action = tuple[str, str, bool]  # application, data, inline


def _act(application: str, data: str, *, inline: bool = False) -> Action:
    return (application, data, inline)


def _actions(actions: list[Action]) -> str:
    inlined = ' inline="true"'
    return "".join(
        f'        <action application="{app}" data="{data}"{inlined if inline else ""}/>\n'
        for app, data, inline in actions
    )


def _extension(
    number: str, actions: list[Action], condition: tuple[str, str, list[Action]] | None = None
) -> str:
    """An extension for `number`; `condition` = (field, expression, actions) adds a second
    condition whose actions run when it matches."""
    second = ""
    if condition is not None:
        field, expression, then = condition
        second = (
            f'      <condition field="{field}" expression="{expression}">\n'
            f"{_actions(then)}      </condition>\n"
        )
    return f"""    <extension name="bench-x-{number}">
      <condition field="destination_number" expression="^{number}$">
{_actions(actions)}      </condition>
{second}    </extension>
"""


def experiments(site: Site, group_id: str, agent_id: str) -> Experiments:
    agent = site.agent(agent_id)
    dial = names.dial_string(agent, site)
    plain = f"user/{agent.devices[0].id}@{names.domain(site)}"
    try_agent = names.try_agent_context(agent.id)
    ring = [
        _act("set", "hangup_after_bridge=true"),
        _act("set", "continue_on_fail=true"),
        _act("bridge", f"{{originate_timeout={agent.ring_timeout}}}{dial}"),
    ]
    extensions = "".join([
        _extension("9010", [_act("transfer", f"s XML {names.agent_context(agent.id)}")]),
        _extension("9011", [_act("execute_extension", f"s XML {try_agent}")]),
        _extension("9012", [_act("execute_extension", f"ring XML {try_agent}")]),
        _extension("9013", ring),
        _extension("9014", [
            _act("set", f"tel_until=${{db(select/{names.FOCUS_REALM}/{agent.id})}}",
                 inline=True),
            _act("bridge", plain),
        ]),
        _extension("9015", [_act("transfer", "9015 XML bench-x-bridge")]),
        _extension("9016", [_act("execute_extension", "9015 XML bench-x-bridge")]),
        _extension("9017", [
            _act("set", f"tel_until=${{hash(select/{names.FOCUS_REALM}/{agent.id})}}",
                 inline=True),
            _act("bridge", plain),
        ]),
        _extension("9018", [
            _act("set", f"tel_until=${{db(select/{names.FOCUS_REALM}/{agent.id})}}",
                 inline=True),
            _act("set", f"tel_until2=${{db(select/{names.FOCUS_REALM}/{agent.id})}}",
                 inline=True),
            _act("bridge", plain),
        ]),
        _extension("9019", [
            _act("set", f"tel_until=${{db(select/{names.FOCUS_REALM}/{agent.id})}}",
                 inline=True),
        ], condition=("${tel_until}", "^$", ring)),
        _extension("9020", [
            _act("set", "hangup_after_bridge=true"),
            _act("callcenter", names.queue_name(group_id)),
        ]),
    ])
    contexts = f"""  <context name="bench-x-bridge">
{_extension("9015", [_act("bridge", plain)])}  </context>
"""
    variants = [
        Variant(f"x: transfer to {names.agent_context(agent.id)}", "9010"),
        Variant(f"x: execute_extension s {try_agent}", "9011"),
        Variant(f"x: execute_extension ring {try_agent}", "9012"),
        Variant("x: ring actions inline", "9013"),
        Variant("x: db select, then bridge", "9014"),
        Variant("x: one transfer, then bridge", "9015"),
        Variant("x: one execute_extension, then bridge", "9016"),
        Variant("x: hash select, then bridge", "9017"),
        Variant("x: two db selects, then bridge", "9018"),
        Variant("x: ours flattened into one extension", "9019"),
        Variant(f"x: callcenter {group_id} straight", "9020"),
    ]
    return Experiments(extensions, contexts, variants)
