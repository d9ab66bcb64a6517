"""The generated site, what its skill queues should hold, and the seeded skill edits.

The expected membership is computed with the routing core's own rules
(`telephony.routing.skills.qualified` and `rank`) for the case the bench sets up: every
agent has a registered device, nobody is in focus, nobody is held. The bench checks the
PBX against it after the engine's first sync, so a difference shows up before any edit
is timed.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from telephony.config import Site
from telephony.config.models import SkillQueue
from telephony.routing.skills import qualified, rank

SITE_ID = "skill-edit-bench"
# The site's AMI / Event Socket secret: loopback only, for this bench's own PBX.
CONTROL_SECRET = "skill-edit-bench-secret"
LEVELS = (1, 2, 3, 4, 5)


def device_id(agent: str) -> str:
    return f"{agent}-soft"


def device_password(index: int) -> str:
    return f"edit-pw-{index:04d}"


def site_data(kind: str, agents: int, queues: int, seed: int) -> dict[str, Any]:
    """A site of `agents` agents (one softphone each, 3-5 skills at random levels) and
    `queues` skill queues (skill sNN, min_level 1-3 in turn), seeded."""
    rng = random.Random(seed)
    skills = [f"s{q:02d}" for q in range(queues)]
    people = []
    for i in range(agents):
        agent = f"agent{i:04d}"
        mine = rng.sample(skills, rng.randint(3, 5))
        people.append({
            "id": agent,
            "name": f"Bench Agent {i:04d}",
            "extension": str(10000 + i),
            "direct_line": f"+4685552{i:04d}",
            "devices": [
                {"id": device_id(agent), "kind": "softphone", "password": device_password(i)}
            ],
            "skills": {s: rng.choice(LEVELS) for s in sorted(mine)},
        })
    return {
        "site": SITE_ID,
        "timezone": "UTC",
        "pbx": {
            "kind": kind,
            "sip_port": 5060,
            "control_username": "telephony",
            "control_secret": CONTROL_SECRET,
        },
        "agents": people,
        "queues": [
            {
                "id": f"queue-{s}", "name": f"Skill {s}", "number": f"3{q:03d}",
                "skill": s, "min_level": 1 + q % 3, "level_wait": 20,
            }
            for q, s in enumerate(skills)
        ],
        "trunks": [{"id": "pstn", "match_ip": ["127.0.0.2/32"]}],
    }


Levels = dict[str, int]
"""Agent id -> ring level (1 rings first) in one queue."""


def queue_members(queue: SkillQueue, skills: Mapping[str, Mapping[str, int]]) -> Levels:
    """Who the queue should hold and at which ring level, everyone reachable."""
    able = qualified(queue, skills)
    levels = list(able.values())
    return {agent: rank(levels, level) for agent, level in able.items()}


@dataclass(frozen=True, slots=True)
class Change:
    """One member entry the PBX must change for an edit: level None means out."""

    queue: str
    agent: str
    before: int | None
    after: int | None

    @property
    def kind(self) -> str:
        if self.before is None:
            return "join"
        return "leave" if self.after is None else "level"


def changes(queue: str, before: Levels, after: Levels) -> list[Change]:
    out = []
    for agent in sorted(before.keys() | after.keys()):
        old, new = before.get(agent), after.get(agent)
        if old != new:
            out.append(Change(queue, agent, old, new))
    return out


@dataclass(frozen=True, slots=True)
class Edit:
    """One skill edit: PUT a level (level set) or DELETE the skill (level None)."""

    agent: str
    skill: str
    queue: str
    level: int | None
    kind: str  # add, raise, lower, delete
    changes: tuple[Change, ...]

    @property
    def method(self) -> str:
        return "DELETE" if self.level is None else "PUT"


class Model:
    """The skills as the engine holds them and the membership they lead to."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.skills: dict[str, dict[str, int]] = {a.id: dict(a.skills) for a in site.agents}
        self.queues = {q.skill: q for q in site.queues}
        self.members: dict[str, Levels] = {
            q.id: queue_members(q, self.skills) for q in site.queues
        }
        self.skipped = 0  # candidate edits that would change no membership

    @property
    def total(self) -> int:
        return sum(len(m) for m in self.members.values())

    def next_edit(self, rng: random.Random) -> Edit:
        """A random edit that changes the PBX's membership: 40 % give an agent a skill
        they lack, 40 % move a skill's level up or down, 20 % take a skill away."""
        agents = sorted(self.skills)
        skills = sorted(self.queues)
        while True:
            skill = rng.choice(skills)
            queue = self.queues[skill]
            having = [a for a in agents if skill in self.skills[a]]
            roll = rng.random()
            if roll < 0.4 or not having:
                agent = rng.choice([a for a in agents if skill not in self.skills[a]])
                level: int | None = rng.randint(queue.min_level, 5)
                kind = "add"
            elif roll < 0.8:
                agent = rng.choice(having)
                old = self.skills[agent][skill]
                level = rng.choice([lv for lv in LEVELS if lv != old])
                kind = "raise" if level > old else "lower"
            else:
                agent = rng.choice(having)
                level, kind = None, "delete"
            edit = self._edit(queue, agent, level, kind)
            if edit.changes:
                return edit
            self.skipped += 1

    def _edit(self, queue: SkillQueue, agent: str, level: int | None, kind: str) -> Edit:
        # Shallow: only the edited agent's skills are replaced, by a new dict.
        trial = dict(self.skills)
        theirs = dict(self.skills[agent])
        if level is None:
            theirs.pop(queue.skill, None)
        else:
            theirs[queue.skill] = level
        trial[agent] = theirs
        after = queue_members(queue, trial)
        found = changes(queue.id, self.members[queue.id], after)
        return Edit(agent, queue.skill, queue.id, level, kind, tuple(found))

    def apply(self, edit: Edit) -> None:
        theirs = self.skills[edit.agent]
        if edit.level is None:
            theirs.pop(edit.skill, None)
        else:
            theirs[edit.skill] = edit.level
        queue = self.queues[edit.skill]
        self.members[queue.id] = queue_members(queue, self.skills)
