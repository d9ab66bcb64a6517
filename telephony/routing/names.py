"""Names shared by the rendered dialplan and the engine, defined once."""

from __future__ import annotations

from telephony.config.models import Agent


def member_interface(agent: Agent) -> str:
    """The queue member interface the engine adds for an agent.

    One device is dialled directly; several need a Local channel that rings them all
    at once. The Local channel costs about 0.2 ms of call setup (bench/), so it is
    used only where it is needed.
    """
    if len(agent.devices) == 1:
        return f"PJSIP/{agent.devices[0].id}"
    return f"Local/{agent.id}@tel-member/n"


def state_interface(agent_id: str) -> str:
    """The queue state interface: a hint over all of the agent's devices."""
    return f"hint:{agent_id}@tel-state"
