"""Deciding a transfer: where it may go, the number dialled, and why one is refused."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from transfer_site import FREE, SITE, Now

from telephony.port.model import Hold, LiveCall, Member, MemberState
from telephony.routing.transfer import (
    AgentNow,
    Decision,
    InvalidTransfer,
    Need,
    Request,
    Target,
    TargetKind,
    TransferRefused,
    UnknownTarget,
    decide,
)

SKILLS = {a.id: dict(a.skills) for a in SITE.agents}
DIRECT = LiveCall("peer-1", "asa", "+46701234567")
FROM_PENSION = LiveCall("peer-1", "asa", "+46701234567", queue="pension")
EVERYONE_FREE: dict[str, AgentNow] = {a.id: FREE for a in SITE.agents}


def transfer(
    to: str,
    *,
    call: LiveCall = DIRECT,
    agents: Mapping[str, AgentNow] = EVERYONE_FREE,
    members: tuple[Member, ...] = (),
    urgent: bool = False,
    skill: str | None = None,
    skills: Mapping[str, Mapping[str, int]] = SKILLS,
) -> Decision:
    request = Request(call.agent, Target.parse(to), urgent=urgent, skill=skill)
    return decide(SITE, request, call, agents, skills, members)


def with_agent(agent: str, now: Now) -> dict[str, AgentNow]:
    return {**EVERYONE_FREE, agent: now}


def member(queue: str, agent: str, *, hold: Hold | None = None,
           state: MemberState = MemberState.IDLE) -> Member:
    return Member(queue, agent, f"ref/{agent}", hold=hold, state=state)


# -- targets


def test_a_target_reads_kind_colon_id() -> None:
    assert Target.parse("hunt_group:intake") == Target(TargetKind.HUNT_GROUP, "intake")


@pytest.mark.parametrize("text", ["bjorn", "agent:", "person:bjorn", ":bjorn", None, 7])
def test_a_target_that_is_not_kind_colon_id_names_the_to_field(text: object) -> None:
    with pytest.raises(InvalidTransfer) as caught:
        Target.parse(text)
    assert caught.value.field == "to"


# -- to an agent


def test_a_free_agent_is_dialled_at_their_extension() -> None:
    assert transfer("agent:bjorn").number == "1002"


def test_an_urgent_transfer_dials_the_urgent_prefix_and_the_extension() -> None:
    assert transfer("agent:bjorn", urgent=True).number == "*91002"


def test_an_unknown_agent_is_an_unknown_target_named_in_to() -> None:
    with pytest.raises(UnknownTarget) as caught:
        transfer("agent:nobody")
    assert caught.value.field == "to"
    assert "nobody" in caught.value.message


def test_an_agent_without_a_registered_phone_is_refused() -> None:
    with pytest.raises(TransferRefused, match="bjorn has no phone registered"):
        transfer("agent:bjorn", agents=with_agent("bjorn", Now(registered=False)))


def test_an_agent_the_engine_knows_nothing_of_counts_as_away() -> None:
    with pytest.raises(TransferRefused, match="no phone registered"):
        transfer("agent:bjorn", agents={"asa": FREE})


def test_an_agent_on_a_call_is_refused() -> None:
    with pytest.raises(TransferRefused, match="bjorn is on a call"):
        transfer("agent:bjorn", agents=with_agent("bjorn", Now(busy=True)))


def test_an_agent_in_focus_is_refused_with_a_hint_at_urgent() -> None:
    with pytest.raises(TransferRefused, match="in focus.*urgent"):
        transfer("agent:bjorn", agents=with_agent("bjorn", Now(in_focus=True)))


def test_an_urgent_transfer_reaches_an_agent_in_focus() -> None:
    decision = transfer("agent:bjorn", urgent=True,
                        agents=with_agent("bjorn", Now(in_focus=True)))
    assert decision.number == "*91002"


def test_urgent_does_not_ring_an_agent_on_a_call() -> None:
    with pytest.raises(TransferRefused, match="on a call"):
        transfer("agent:bjorn", urgent=True, agents=with_agent("bjorn", Now(busy=True)))


def test_a_transfer_to_the_agent_already_on_the_call_is_invalid() -> None:
    with pytest.raises(InvalidTransfer, match="already with asa"):
        transfer("agent:asa")


def test_a_refusal_names_the_to_field() -> None:
    with pytest.raises(TransferRefused) as caught:
        transfer("agent:bjorn", agents=with_agent("bjorn", Now(busy=True)))
    assert caught.value.field == "to"


# -- skills


def test_a_call_from_a_skill_queue_needs_its_skill_at_its_min_level() -> None:
    assert transfer("agent:chen", call=FROM_PENSION).need == Need("pension", 3)


def test_an_agent_below_the_queues_min_level_is_refused() -> None:
    with pytest.raises(TransferRefused, match=r"bjorn lacks .*pension at level 3.*has level 2"):
        transfer("agent:bjorn", call=FROM_PENSION)


def test_an_agent_without_the_skill_is_refused() -> None:
    call = LiveCall("peer-1", "chen", "+46701234567", queue="pension")
    skills = {**SKILLS, "asa": {"unemployment": 2}}
    with pytest.raises(TransferRefused, match="asa lacks .*does not have it"):
        transfer("agent:asa", call=call, skills=skills)


def test_skills_are_the_effective_ones_not_the_site_files() -> None:
    raised = {**SKILLS, "bjorn": {"pension": 3}}
    assert transfer("agent:bjorn", call=FROM_PENSION, skills=raised).number == "1002"


def test_a_direct_call_needs_no_skill() -> None:
    decision = transfer("agent:bjorn")
    assert decision.need is None


def test_a_hunt_group_call_needs_no_skill() -> None:
    call = LiveCall("peer-1", "asa", "+46701234567", queue="intake")
    assert transfer("agent:bjorn", call=call).need is None


def test_a_named_skill_is_needed_at_the_lowest_min_level_of_its_queues() -> None:
    # pension: min_level 3 in `pension`, 2 in `pension-wide`.
    assert transfer("agent:bjorn", skill="pension").need == Need("pension", 2)


def test_a_named_skill_of_the_queue_that_put_the_call_through_keeps_its_min_level() -> None:
    with pytest.raises(TransferRefused, match="pension at level 3"):
        transfer("agent:bjorn", call=FROM_PENSION, skill="pension")


def test_a_named_skill_replaces_the_queues_skill() -> None:
    call = LiveCall("peer-1", "chen", "+46701234567", queue="pension")
    decision = transfer("agent:asa", call=call, skill="unemployment")
    assert decision.need == Need("unemployment", 1)


def test_a_skill_nobody_has_is_an_unknown_target_named_in_skill() -> None:
    with pytest.raises(UnknownTarget) as caught:
        transfer("agent:bjorn", skill="astrology")
    assert caught.value.field == "skill"


# -- to a skill queue or hunt group


def test_a_skill_queue_with_a_member_who_can_answer_is_dialled_at_its_number() -> None:
    assert transfer("queue:pension", members=(member("pension", "chen"),)).number == "3001"


def test_a_hunt_group_with_a_member_who_can_answer_is_dialled_at_its_number() -> None:
    assert transfer("hunt_group:intake", members=(member("intake", "bjorn"),)).number == "2000"


def test_a_busy_member_still_counts_as_the_caller_waits_for_them() -> None:
    members = (member("intake", "bjorn", state=MemberState.ON_CALL),)
    agents = with_agent("bjorn", Now(busy=True))
    assert transfer("hunt_group:intake", members=members, agents=agents).number == "2000"


def test_an_empty_skill_queue_is_refused_saying_who_would_join_it() -> None:
    with pytest.raises(TransferRefused, match=r"nobody is in queue pension now.*pension at level 3"):
        transfer("queue:pension", members=(member("intake", "chen"),))


def test_an_empty_hunt_group_is_refused() -> None:
    with pytest.raises(TransferRefused, match="nobody is in hunt group intake now"):
        transfer("hunt_group:intake")


def test_a_hunt_group_where_nobody_can_answer_is_refused_saying_why_for_each() -> None:
    members = (
        member("intake", "asa"),
        member("intake", "bjorn", hold=Hold.EXTERNAL),
        member("intake", "chen"),
    )
    agents = with_agent("chen", Now(registered=False))
    with pytest.raises(TransferRefused) as caught:
        transfer("hunt_group:intake", members=members, agents=agents)
    assert caught.value.message == (
        "nobody in hunt group intake can answer now: asa is the one transferring; "
        "bjorn is paused; chen has no phone registered"
    )


def test_a_member_in_focus_cannot_answer() -> None:
    agents = with_agent("chen", Now(in_focus=True))
    with pytest.raises(TransferRefused, match="chen is in focus"):
        transfer("queue:pension", members=(member("pension", "chen"),), agents=agents)


def test_a_member_the_pbx_sees_as_unavailable_cannot_answer() -> None:
    members = (member("pension", "chen", state=MemberState.UNAVAILABLE),)
    with pytest.raises(TransferRefused, match="chen has no phone registered"):
        transfer("queue:pension", members=members)


def test_an_unknown_queue_is_an_unknown_target() -> None:
    with pytest.raises(UnknownTarget, match="unknown queue 'nope'"):
        transfer("queue:nope")


def test_a_hunt_group_is_not_a_skill_queue() -> None:
    with pytest.raises(UnknownTarget, match="unknown queue 'intake'"):
        transfer("queue:intake")


def test_an_unknown_hunt_group_is_an_unknown_target() -> None:
    with pytest.raises(UnknownTarget, match="unknown hunt group 'nope'"):
        transfer("hunt_group:nope")


def test_only_a_transfer_to_an_agent_can_be_urgent() -> None:
    with pytest.raises(InvalidTransfer) as caught:
        transfer("hunt_group:intake", urgent=True, members=(member("intake", "bjorn"),))
    assert caught.value.field == "urgent"


def test_a_skill_is_only_named_for_a_transfer_to_an_agent() -> None:
    with pytest.raises(InvalidTransfer) as caught:
        transfer("queue:pension", skill="pension", members=(member("pension", "chen"),))
    assert caught.value.field == "skill"
