"""The skill-latency benchmark's own copy of the test site: the site as the PBX tests
have it, plus one skill queue whose members are the bench's two phones.

The test site's skill queues ring agents the bench has no phone for, and `benefits`
has a callback key (which answers the caller before the queue: a callback feature,
not a skill-queue cost). So the copy gives Chen and Dana a skill of their own and adds
a queue for it, set up as `benefits` is (ring-all, 5 s ring, 8 s wait, levels 3 s
apart) without the callback key and the overflow. Chen has the higher skill: the engine
makes him ring level 1 (penalty 0 / tier level 0) and Dana ring level 2 (penalty 1 /
tier level 1, joining the ringing 3 s after the caller).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from telephony.config import Site
from telephony.config.load import parse_site
from telephony.config.models import PbxKind

QUEUE = "experts"
NUMBER = "3009"
SKILL = "benchmarking"
EXPERT = "chen"  # skill 5: ring level 1
SECOND = "dana"  # skill 4: ring level 2
SKILLS = {EXPERT: 5, SECOND: 4}
# Like the test site's `benefits`, without the callback key and the fallback.
QUEUE_ENTRY: dict[str, Any] = {
    "id": QUEUE,
    "number": NUMBER,
    "skill": SKILL,
    "min_level": 3,
    "strategy": "ringall",
    "ring_timeout": 5,
    "max_wait": 8,
    "level_wait": 3,
}


@dataclass(frozen=True, slots=True)
class BenchSite:
    """The site the run uses, its text (written beside the traces) and the devices of
    the two agents of the queue."""

    site: Site
    text: str
    expert_device: str
    second_device: str

    @property
    def devices(self) -> list[str]:
        return [self.expert_device, self.second_device]


def bench_site(test_site: Path, kind: PbxKind, ports: str | None) -> BenchSite:
    """The test site with the bench's skill queue (and the skill for its two agents),
    read as `kind`; `ports` = "SIP,CONTROL" moves the PBX beside another one."""
    data = yaml.safe_load(test_site.read_text(encoding="utf-8"))
    agents = {a["id"]: a for a in data["agents"]}
    for agent_id, level in SKILLS.items():
        agents[agent_id].setdefault("skills", {})[SKILL] = level
    if any(q["id"] == QUEUE or q["number"] == NUMBER for q in data.get("queues", [])):
        raise SystemExit(f"{test_site} already has a queue {QUEUE} or number {NUMBER}")
    data.setdefault("queues", []).append(dict(QUEUE_ENTRY))
    if ports:
        sip, control = (int(p) for p in ports.split(","))
        data["pbx"].update(sip_port=sip, control_port=control)
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    site = parse_site(text, source=f"{test_site} + bench queue {QUEUE}", kind=kind)
    expert, second = site.agent(EXPERT), site.agent(SECOND)
    for agent in (expert, second):
        if len(agent.devices) != 1:
            raise SystemExit(f"{agent.id} must have one device: the baseline rings that phone")
    return BenchSite(site, text, expert.devices[0].id, second.devices[0].id)
