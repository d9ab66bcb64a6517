"""Skill-queue membership: who is a member of which skill queue, at which ring level."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from telephony.config import ConfigError, Site, parse_site
from telephony.port import Hold, Join, Leave, Member, MemberState, SetHold, SetLevel
from telephony.routing.skills import Reach, desired, plan, rank

HERE = Reach(registered=True, in_focus=False)


def site_with(skills: dict[str, dict[str, int]], **queue: Any) -> Site:
    data: dict[str, Any] = {
        "site": "skills", "pbx": {"control_secret": "a-long-test-secret"},
    }
    data["agents"] = [
        {"id": agent, "name": agent.title(), "extension": f"10{i:02d}",
         "direct_line": f"+468555010{i:02d}", "skills": theirs,
         "devices": [{"id": f"{agent}-soft", "kind": "softphone", "password": f"pw-{agent}-soft"}]}
        for i, (agent, theirs) in enumerate(skills.items(), start=1)
    ]
    data["queues"] = [{"id": "pension", "number": "3001", "skill": "pension", **queue}]
    return parse_site(yaml.safe_dump(data), {})


def skills_of(site: Site) -> dict[str, dict[str, int]]:
    return {a.id: dict(a.skills) for a in site.agents}


def levels(site: Site, reach: dict[str, Reach] | None = None,
           members: tuple[Member, ...] = ()) -> dict[str, int]:
    wants = desired(site, skills_of(site), reach or {}, members)
    return {agent: want.level for (_, agent), want in wants.items()}


def test_the_most_skilled_ring_first_and_each_lower_skill_level_one_step_later() -> None:
    site = site_with({"ada": {"pension": 5}, "bo": {"pension": 3}, "cy": {"pension": 5},
                      "di": {"pension": 1}})
    assert levels(site) == {"ada": 1, "cy": 1, "bo": 2, "di": 3}


def test_agents_below_the_queues_minimum_level_are_not_members() -> None:
    site = site_with({"ada": {"pension": 5}, "bo": {"pension": 2}, "cy": {"tax": 5}},
                     min_level=3)
    assert levels(site) == {"ada": 1}


def test_an_agent_in_focus_or_without_a_registered_device_is_not_a_member() -> None:
    site = site_with({"ada": {"pension": 5}, "bo": {"pension": 4}, "cy": {"pension": 3}})
    reach = {"ada": Reach(registered=True, in_focus=True),
             "bo": Reach(registered=False, in_focus=False), "cy": HERE}
    assert levels(site, reach) == {"cy": 1}


def test_when_the_experts_are_away_the_next_best_ring_at_once() -> None:
    site = site_with({"ada": {"pension": 5}, "bo": {"pension": 3}})
    assert levels(site, {"ada": Reach(registered=False, in_focus=False)}) == {"bo": 1}


def test_a_member_paused_elsewhere_stays_but_does_not_hold_back_the_next_level() -> None:
    site = site_with({"ada": {"pension": 5}, "bo": {"pension": 3}})
    held = Member("pension", "ada", "ref-ada", hold=Hold.EXTERNAL, level=1)
    assert levels(site, members=(held,)) == {"ada": 1, "bo": 1}


def test_rank_counts_distinct_higher_levels_only() -> None:
    assert rank([5, 5, 4, 2], 4) == 2
    assert rank([5, 5, 4, 2], 2) == 3
    assert rank([], 3) == 1


def test_plan_joins_missing_agents_at_their_ring_level() -> None:
    site = site_with({"ada": {"pension": 5}, "bo": {"pension": 3}})
    wants = desired(site, skills_of(site), {}, ())
    commands = plan(site, wants, (), skills_of(site), {})
    assert [(type(c), c.agent, getattr(c, "level", None)) for c in commands] == [
        (Join, "ada", 1), (Join, "bo", 2),
    ]


def test_plan_moves_a_member_whose_ring_level_changed() -> None:
    site = site_with({"ada": {"pension": 5}, "bo": {"pension": 3}})
    members = (Member("pension", "ada", "r-ada", level=1), Member("pension", "bo", "r-bo", level=1))
    wants = desired(site, skills_of(site), {}, members)
    assert plan(site, wants, members, skills_of(site), {}) == [
        SetLevel("pension", "bo", "r-bo", 2, "pension level 3, rings at level 2"),
    ]


def test_a_member_who_lost_the_skill_on_a_call_leaves_when_the_call_ends() -> None:
    site = site_with({"ada": {"pension": 5}, "bo": {"pension": 3}})
    skills = {"ada": {"pension": 5}, "bo": {}}
    members = (Member("pension", "ada", "r-ada", level=1),
               Member("pension", "bo", "r-bo", level=2, state=MemberState.ON_CALL))
    commands = plan(site, desired(site, skills, {}, members), members, skills, {})
    assert commands == [SetHold("pension", "bo", "r-bo", Hold.LEAVING,
                                "no pension skill; leaves after the current call")]


def test_an_idle_member_who_is_no_longer_wanted_leaves_now() -> None:
    site = site_with({"ada": {"pension": 5}})
    members = (Member("pension", "ada", "r-ada", level=1),)
    reach = {"ada": Reach(registered=False, in_focus=False)}
    commands = plan(site, desired(site, skills_of(site), reach, members), members,
                    skills_of(site), reach)
    assert commands == [Leave("pension", "ada", "r-ada", "no device registered")]


def test_a_member_wanted_again_before_the_call_ended_stays() -> None:
    site = site_with({"ada": {"pension": 5}})
    members = (Member("pension", "ada", "r-ada", hold=Hold.LEAVING, level=1,
                      state=MemberState.ON_CALL),)
    commands = plan(site, desired(site, skills_of(site), {}, members), members,
                    skills_of(site), {})
    assert commands == [SetHold("pension", "ada", "r-ada", None,
                                "pension level 5, rings at level 1")]


def test_duplicates_are_removed_and_hunt_group_members_are_left_alone() -> None:
    site = site_with({"ada": {"pension": 5}})
    members = (Member("pension", "ada", "r1", level=1), Member("pension", "ada", "r2", level=1),
               Member("intake", "ada", "r3"))
    commands = plan(site, desired(site, skills_of(site), {}, members), members,
                    skills_of(site), {})
    assert commands == [Leave("pension", "ada", "r2", "duplicate or stale")]


@pytest.mark.parametrize("key", ["11", "a", "", 10])
def test_a_callback_key_is_one_phone_key(key: object) -> None:
    with pytest.raises(ConfigError) as caught:
        site_with({"ada": {"pension": 5}}, callback_key=key)
    assert [p.path for p in caught.value.problems] == ["queues[0].callback_key"]


def test_a_callback_needs_a_trunk_to_dial_out_through() -> None:
    with pytest.raises(ConfigError) as caught:
        site_with({"ada": {"pension": 5}}, callback_key=1)
    [problem] = caught.value.problems
    assert problem.path == "queues[0].callback_key"
    assert "dial_host" in problem.message


def test_a_queue_cannot_overflow_to_itself() -> None:
    with pytest.raises(ConfigError) as caught:
        site_with({"ada": {"pension": 5}}, fallback=[{"queue": "pension"}])
    assert [p.path for p in caught.value.problems] == ["queues[0].fallback[0].queue"]
