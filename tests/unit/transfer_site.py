"""A small site for the transfer tests: three agents with skills, a skill queue that
wants pension at level 3, another at level 2, and a hunt group."""

from __future__ import annotations

from dataclasses import dataclass

from telephony.config import Site

SITE = Site.model_validate({
    "site": "transfers",
    "pbx": {"control_secret": "test-secret-1"},
    "agents": [
        {"id": "asa", "name": "Åsa", "extension": "1001", "direct_line": "+46855501001",
         "devices": [{"id": "asa-soft", "kind": "softphone", "password": "asa-pass-1"}],
         "skills": {"pension": 5, "unemployment": 2}},
        {"id": "bjorn", "name": "Björn", "extension": "1002", "direct_line": "+46855501002",
         "devices": [{"id": "bjorn-soft", "kind": "softphone", "password": "bjorn-pass-1"}],
         "skills": {"pension": 2}},
        {"id": "chen", "name": "Chen", "extension": "1003", "direct_line": "+46855501003",
         "devices": [{"id": "chen-soft", "kind": "softphone", "password": "chen-pass-1"}],
         "skills": {"pension": 4}},
    ],
    "hunt_groups": [{"id": "intake", "number": "2000"}],
    "queues": [
        {"id": "pension", "number": "3001", "skill": "pension", "min_level": 3},
        {"id": "pension-wide", "number": "3002", "skill": "pension", "min_level": 2},
    ],
})


@dataclass(frozen=True, slots=True)
class Now:
    """An agent's availability, as the engine's would say it."""

    registered: bool = True
    in_focus: bool = False
    busy: bool = False


FREE = Now()
