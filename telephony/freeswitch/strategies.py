"""How a site's ring strategies map onto mod_callcenter's, and which it cannot honour.

Kept free of imports so `telephony check` can consult it without loading anything
else of FreeSWITCH. The README's FreeSWITCH section prints the same table.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# Site strategy (app_queue's words) -> mod_callcenter strategy.
STRATEGIES: Mapping[str, str] = MappingProxyType({
    # Every agent at once; the first to answer wins.
    "ringall": "ring-all",
    # Round robin that remembers where it stopped. mod_callcenter's round-robin goes
    # on from the agent after the last one offered, in tier position order.
    "rrmemory": "round-robin",
    # rrmemory in the order members were added: tier positions are that order.
    "rrordered": "round-robin",
    # The agent idle longest (app_queue: least recently hung up from this queue).
    "leastrecent": "longest-idle-agent",
    # Fewest answered calls. mod_callcenter counts an agent's calls across all
    # queues since the agent was last set Available, app_queue per queue.
    "fewestcalls": "agent-with-fewest-calls",
    # Always from the first agent, in order.
    "linear": "top-down",
    "random": "random",
})

# Site strategies mod_callcenter has nothing for, with the reason `check` gives.
REFUSED: Mapping[str, str] = MappingProxyType({
    "wrandom": "FreeSWITCH's mod_callcenter has no weighted random strategy; "
    "use random (or another strategy) for a site on FreeSWITCH",
})


def callcenter_strategy(strategy: str) -> str:
    """The mod_callcenter strategy for a site strategy; KeyError for a refused one
    (`telephony check` refuses those sites before rendering)."""
    return STRATEGIES[strategy]
