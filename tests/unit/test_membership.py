"""Planning hunt-group membership: roster, manual changes, focus, calls in progress."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from telephony.config import Site, load_site
from telephony.port.model import (
    DeleteKey,
    Family,
    Hold,
    Join,
    Key,
    Leave,
    Member,
    MemberState,
    SetHold,
)
from telephony.routing.membership import desired, next_wakeup, plan
from telephony.routing.state import (
    EMPTY,
    Focus,
    Override,
    OverrideAction,
    StoredState,
    parse_keys,
)

DEMO = Path(__file__).resolve().parents[2] / "telephony" / "examples" / "demo-site.yaml"
# Monday 2026-11-23 09:00 in Stockholm: asa and chen are on duty in intake.
MONDAY_9 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)

SITE = load_site(DEMO, {})


@pytest.fixture(scope="module")
def site() -> Site:
    return SITE


def member(
    agent: str, *, hold: Hold | None = None, on_call: bool = False, current: bool = True,
    queue: str = "intake",
) -> Member:
    state = MemberState.ON_CALL if on_call else MemberState.IDLE
    return Member(queue, agent, f"ref/{agent}", hold=hold, state=state, current=current)


def test_roster_adds_agents_on_duty(site: Site) -> None:
    commands = plan(site, desired(site, MONDAY_9, EMPTY), [], EMPTY, MONDAY_9)
    assert [str(c).split(":")[0] for c in commands] == ["add asa to intake", "add chen to intake"]


def test_agents_already_in_place_need_nothing(site: Site) -> None:
    members = [member("asa"), member("chen")]
    assert plan(site, desired(site, MONDAY_9, EMPTY), members, EMPTY, MONDAY_9) == []


def test_agent_off_duty_is_removed(site: Site) -> None:
    members = [member("asa"), member("chen"), member("bjorn")]
    [command] = plan(site, desired(site, MONDAY_9, EMPTY), members, EMPTY, MONDAY_9)
    assert command == Leave("intake", "bjorn", "ref/bjorn", "shift over")


def test_agent_on_a_call_at_shift_end_is_held_to_leave_not_removed(site: Site) -> None:
    members = [member("asa"), member("chen"), member("bjorn", on_call=True)]
    [command] = plan(site, desired(site, MONDAY_9, EMPTY), members, EMPTY, MONDAY_9)
    assert isinstance(command, SetHold) and command.hold is Hold.LEAVING


def test_agent_held_to_leave_waits_until_the_call_ends(site: Site) -> None:
    members = [member("asa"), member("chen"), member("bjorn", on_call=True, hold=Hold.LEAVING)]
    assert plan(site, desired(site, MONDAY_9, EMPTY), members, EMPTY, MONDAY_9) == []


def test_agent_held_to_leave_is_removed_once_the_call_ended(site: Site) -> None:
    members = [member("asa"), member("chen"), member("bjorn", hold=Hold.LEAVING)]
    [command] = plan(site, desired(site, MONDAY_9, EMPTY), members, EMPTY, MONDAY_9)
    assert isinstance(command, Leave) and command.agent == "bjorn"


def test_a_ringing_member_counts_as_on_a_call(site: Site) -> None:
    ringing = Member("intake", "bjorn", "ref/bjorn", state=MemberState.RINGING)
    [command] = plan(site, desired(site, MONDAY_9, EMPTY), [member("asa"), member("chen"),
                                                            ringing], EMPTY, MONDAY_9)
    assert isinstance(command, SetHold) and command.hold is Hold.LEAVING


def test_focus_takes_an_agent_out_of_every_hunt_group(site: Site) -> None:
    stored = StoredState({"asa": Focus("asa", None)}, {}, {})
    assert ("intake", "asa") not in desired(site, MONDAY_9, stored)


def test_expired_focus_is_forgotten_and_the_agent_rejoins(site: Site) -> None:
    stored = StoredState({"asa": Focus("asa", int(MONDAY_9.timestamp()) - 60)}, {}, {})
    commands = plan(site, desired(site, MONDAY_9, stored), [member("chen")], stored, MONDAY_9)
    assert isinstance(commands[0], Join) and (commands[0].queue, commands[0].agent) == (
        "intake", "asa"
    )
    assert DeleteKey(Key(Family.FOCUS, ("asa",)), "focus ended") in commands


def test_manual_join_wins_over_the_roster_until_it_runs_out(site: Site) -> None:
    until = int(MONDAY_9.timestamp()) + 3600
    stored = StoredState(
        {}, {}, {("intake", "bjorn", "member"): Override("intake", "bjorn", OverrideAction.JOIN, until)}
    )
    assert ("intake", "bjorn") in desired(site, MONDAY_9, stored)
    later = datetime.fromtimestamp(until, UTC)
    assert ("intake", "bjorn") in desired(site, later, stored)  # 10:00: bjorn's own shift starts


def test_manual_leave_wins_over_the_roster(site: Site) -> None:
    until = int(MONDAY_9.timestamp()) + 3600
    stored = StoredState(
        {}, {}, {("intake", "asa", "member"): Override("intake", "asa", OverrideAction.LEAVE, until)}
    )
    assert ("intake", "asa") not in desired(site, MONDAY_9, stored)


def test_manual_pause_holds_the_member(site: Site) -> None:
    until = int(MONDAY_9.timestamp()) + 3600
    stored = StoredState(
        {}, {}, {("intake", "asa", "pause"): Override("intake", "asa", OverrideAction.PAUSE, until)}
    )
    [command] = plan(site, desired(site, MONDAY_9, stored), [member("asa"), member("chen")],
                     stored, MONDAY_9)
    assert command == SetHold("intake", "asa", "ref/asa", Hold.MANUAL, command.why)


def test_a_manual_pause_on_someone_not_yet_in_joins_them_held(site: Site) -> None:
    until = int(MONDAY_9.timestamp()) + 3600
    stored = StoredState(
        {}, {}, {("intake", "asa", "pause"): Override("intake", "asa", OverrideAction.PAUSE, until)}
    )
    commands = plan(site, desired(site, MONDAY_9, stored), [member("chen")], stored, MONDAY_9)
    assert commands == [Join("intake", "asa", commands[0].why, hold=Hold.MANUAL)]  # type: ignore[union-attr]


def test_members_of_other_queues_are_left_alone(site: Site) -> None:
    foreign = member("chen", queue="pension")
    members = [member("asa"), member("chen"), foreign]
    assert plan(site, desired(site, MONDAY_9, EMPTY), members, EMPTY, MONDAY_9) == []


def test_a_hold_made_outside_the_engine_is_left_alone(site: Site) -> None:
    members = [member("asa", hold=Hold.EXTERNAL), member("chen")]
    assert plan(site, desired(site, MONDAY_9, EMPTY), members, EMPTY, MONDAY_9) == []


def test_the_engines_own_manual_hold_is_released_when_it_runs_out(site: Site) -> None:
    members = [member("asa", hold=Hold.MANUAL), member("chen")]
    [command] = plan(site, desired(site, MONDAY_9, EMPTY), members, EMPTY, MONDAY_9)
    assert command == SetHold("intake", "asa", "ref/asa", None, command.why)


def test_a_stale_entry_on_a_call_is_held_until_the_call_ends_and_a_current_one_joins(
    site: Site,
) -> None:
    stale = member("chen", on_call=True, current=False)
    commands = plan(site, desired(site, MONDAY_9, EMPTY), [member("asa"), stale], EMPTY, MONDAY_9)
    assert commands[0] == SetHold(
        "intake", "chen", "ref/chen", Hold.LEAVING,
        "duplicate or stale; leaves after the current call",
    )
    assert isinstance(commands[1], Join) and commands[1].agent == "chen"


def test_an_idle_stale_entry_is_replaced_at_once(site: Site) -> None:
    commands = plan(site, desired(site, MONDAY_9, EMPTY),
                    [member("asa", current=False), member("chen")], EMPTY, MONDAY_9)
    assert [type(c) for c in commands] == [Leave, Join]


def test_a_duplicate_entry_is_taken_out(site: Site) -> None:
    twice = Member("intake", "chen", "ref/chen-2")
    commands = plan(site, desired(site, MONDAY_9, EMPTY),
                    [member("asa"), member("chen"), twice], EMPTY, MONDAY_9)
    assert commands == [Leave("intake", "chen", "ref/chen-2", "duplicate or stale")]


def test_next_wakeup_is_the_next_shift_boundary(site: Site) -> None:
    assert next_wakeup(site, MONDAY_9, EMPTY) == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_stored_keys_are_read_and_junk_skipped() -> None:
    stored = parse_keys({
        Key(Family.FOCUS, ("asa",)): "0",
        Key(Family.FOCUS, ("bjorn",)): "1795000000",
        Key(Family.FOCUS, ("bad",)): "soon",
        Key(Family.CASE, ("+46701234567",)): "asa",
        Key(Family.OVERRIDE, ("intake", "asa", "member")): "join:1795000000",
        Key(Family.OVERRIDE, ("intake", "asa", "pause")): "join:1795000000",
        Key(Family.OVERRIDE, ("intake", "bjorn", "member")): "leave:1795000000",
    })
    assert stored.focus == {"asa": Focus("asa", None), "bjorn": Focus("bjorn", 1795000000)}
    assert stored.cases == {"+46701234567": "asa"}
    assert list(stored.overrides) == [("intake", "asa", "member"), ("intake", "bjorn", "member")]
