"""Names shared by the rendered dialplan and the engine, defined once."""

from __future__ import annotations


def member_interface(agent_id: str) -> str:
    """The queue member interface the engine adds: a Local channel ringing all devices."""
    return f"Local/{agent_id}@tel-member/n"


def state_interface(agent_id: str) -> str:
    """The queue state interface: a hint over all of the agent's devices."""
    return f"hint:{agent_id}@tel-state"
