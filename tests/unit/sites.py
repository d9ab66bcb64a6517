"""Hypothesis strategies for site files: any valid ids, numbers, names and secrets."""

from __future__ import annotations

import string
from typing import Any

from hypothesis import strategies as st

from telephony.config.checks import reserved

ID_ALPHABET = string.ascii_lowercase + string.digits + "_-"
# Printable ASCII without spaces and without the characters a secret may not hold.
SECRET_ALPHABET = "".join(
    ch for ch in map(chr, range(0x21, 0x7F)) if ch not in ';"\\[],()$'
)

ids = st.text(ID_ALPHABET, min_size=1, max_size=40).filter(lambda i: reserved(i) is None)
numbers = st.builds(
    lambda plus, digits: plus + digits,
    st.sampled_from(["", "+"]), st.text(string.digits, min_size=1, max_size=20),
)
secrets = st.text(SECRET_ALPHABET, min_size=8, max_size=40)
names = st.text(
    st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters=';[],"()\\$'),
    min_size=1, max_size=19,  # 19 characters of at most 4 bytes fit in 79 bytes
).filter(lambda n: n.strip() != "")


@st.composite
def sites(draw: st.DrawFn, max_agents: int = 4) -> dict[str, Any]:
    """A valid site as plain data: unique ids across kinds, unique numbers."""
    n_agents = draw(st.integers(1, max_agents))
    n_devices = [draw(st.integers(1, 3)) for _ in range(n_agents)]
    n_groups = draw(st.integers(0, 3))
    n_queues = draw(st.integers(0, 2))
    n_trunks = draw(st.integers(0, 2))
    total_ids = n_agents + sum(n_devices) + n_groups + n_queues + n_trunks
    all_ids = draw(st.lists(ids, min_size=total_ids, max_size=total_ids, unique=True))
    all_numbers = draw(st.lists(
        numbers, min_size=2 * n_agents + n_groups + n_queues,
        max_size=2 * n_agents + n_groups + n_queues, unique=True,
    ))
    take_id, take_number = iter(all_ids), iter(all_numbers)
    agents = [
        {
            "id": next(take_id),
            "name": draw(names),
            "extension": next(take_number),
            "direct_line": next(take_number),
            "devices": [
                {"id": next(take_id), "kind": "softphone", "password": draw(secrets)}
                for _ in range(count)
            ],
            "focus_allow": draw(st.lists(numbers, max_size=2, unique=True)),
        }
        for count in n_devices
    ]
    agent_ids = [a["id"] for a in agents]
    groups = [
        {
            "id": next(take_id),
            "number": next(take_number),
            "roster": {
                a: {"mon": ["08:00-10:00"]} for a in draw(st.sets(st.sampled_from(agent_ids)))
            },
            "fallback": ["voicemail"],
        }
        for _ in range(n_groups)
    ]
    queues = [
        {"id": next(take_id), "number": next(take_number), "skill": draw(ids)}
        for _ in range(n_queues)
    ]
    trunks = [{"id": next(take_id), "match_header": "X-Trunk: pstn"} for _ in range(n_trunks)]
    steps: list[object] = [{"colleague": a} for a in agent_ids]
    steps += [{"hunt_group": g["id"]} for g in groups] + [{"queue": q["id"]} for q in queues]
    for agent in agents:
        chain = draw(st.lists(st.sampled_from(steps), max_size=3, unique_by=str))
        agent["fallback"] = [s for s in chain if s != {"colleague": agent["id"]}] + ["voicemail"]
    return {
        "site": draw(ids),
        "pbx": {"ami_secret": draw(secrets), "ami_username": draw(ids)},
        "agents": agents,
        "hunt_groups": groups,
        "queues": queues,
        "trunks": trunks,
    }
