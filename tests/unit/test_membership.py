"""Planning hunt-group membership: roster, manual changes, focus, calls in progress."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from telephony.config import Site, load_site
from telephony.routing.astdb import DbState, Focus, Override, OverrideAction, parse_tree
from telephony.routing.membership import (
    LEAVING_REASON,
    MANUAL_REASON,
    AddMember,
    DeleteKey,
    Member,
    PauseMember,
    RemoveMember,
    desired,
    next_wakeup,
    plan,
)
from telephony.routing.names import member_interface, state_interface

DEMO = Path(__file__).resolve().parents[2] / "telephony" / "examples" / "demo-site.yaml"
# Monday 2026-11-23 09:00 in Stockholm: asa and chen are on duty in intake.
MONDAY_9 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
EMPTY = DbState({}, {}, {})


SITE = load_site(DEMO, {})


@pytest.fixture(scope="module")
def site() -> Site:
    return SITE


def interface(agent: str) -> str:
    return member_interface(SITE.agent(agent))


def member(agent: str, *, paused: bool = False, in_call: bool = False, reason: str = "") -> Member:
    return Member("intake", agent, interface(agent), paused, in_call, 2 if in_call else 1, reason)


def test_roster_adds_agents_on_duty(site: Site) -> None:
    commands = plan(site, desired(site, MONDAY_9, EMPTY), [], EMPTY, MONDAY_9)
    assert [str(c).split(":")[0] for c in commands] == ["add asa to intake", "add chen to intake"]


def test_agents_already_in_place_need_nothing(site: Site) -> None:
    members = [member("asa"), member("chen")]
    assert plan(site, desired(site, MONDAY_9, EMPTY), members, EMPTY, MONDAY_9) == []


def test_agent_off_duty_is_removed(site: Site) -> None:
    members = [member("asa"), member("chen"), member("bjorn")]
    [command] = plan(site, desired(site, MONDAY_9, EMPTY), members, EMPTY, MONDAY_9)
    assert command == RemoveMember("intake", "bjorn", "PJSIP/bjorn-soft", "shift over")


def test_agent_on_a_call_at_shift_end_is_paused_not_removed(site: Site) -> None:
    members = [member("asa"), member("chen"), member("bjorn", in_call=True)]
    [command] = plan(site, desired(site, MONDAY_9, EMPTY), members, EMPTY, MONDAY_9)
    assert isinstance(command, PauseMember) and command.paused and command.reason == LEAVING_REASON


def test_agent_paused_to_leave_waits_until_the_call_ends(site: Site) -> None:
    members = [member("asa"), member("chen"), member("bjorn", in_call=True, paused=True, reason=LEAVING_REASON)]
    assert plan(site, desired(site, MONDAY_9, EMPTY), members, EMPTY, MONDAY_9) == []


def test_agent_paused_to_leave_is_removed_once_the_call_ended(site: Site) -> None:
    members = [member("asa"), member("chen"), member("bjorn", paused=True, reason=LEAVING_REASON)]
    [command] = plan(site, desired(site, MONDAY_9, EMPTY), members, EMPTY, MONDAY_9)
    assert isinstance(command, RemoveMember) and command.agent == "bjorn"


def test_focus_takes_an_agent_out_of_every_hunt_group(site: Site) -> None:
    db = DbState({"asa": Focus("asa", None)}, {}, {})
    assert ("intake", "asa") not in desired(site, MONDAY_9, db)


def test_expired_focus_is_forgotten_and_the_agent_rejoins(site: Site) -> None:
    db = DbState({"asa": Focus("asa", int(MONDAY_9.timestamp()) - 60)}, {}, {})
    commands = plan(site, desired(site, MONDAY_9, db), [member("chen")], db, MONDAY_9)
    assert commands[0] == AddMember(
        "intake", "asa", "Local/1001@tel-member/n", False,
        commands[0].why,  # type: ignore[union-attr]
        "hint:1001@tel-state",
    )
    assert DeleteKey("telephony/focus", "asa", "focus ended") in commands


def test_manual_join_wins_over_the_roster_until_it_runs_out(site: Site) -> None:
    until = int(MONDAY_9.timestamp()) + 3600
    db = DbState({}, {}, {("intake", "bjorn", "member"): Override("intake", "bjorn", OverrideAction.JOIN, until)})
    assert ("intake", "bjorn") in desired(site, MONDAY_9, db)
    later = datetime.fromtimestamp(until, UTC)
    assert ("intake", "bjorn") in desired(site, later, db)  # 10:00: bjorn's own shift starts


def test_manual_leave_wins_over_the_roster(site: Site) -> None:
    until = int(MONDAY_9.timestamp()) + 3600
    db = DbState({}, {}, {("intake", "asa", "member"): Override("intake", "asa", OverrideAction.LEAVE, until)})
    assert ("intake", "asa") not in desired(site, MONDAY_9, db)


def test_manual_pause_pauses_the_member(site: Site) -> None:
    until = int(MONDAY_9.timestamp()) + 3600
    db = DbState({}, {}, {("intake", "asa", "pause"): Override("intake", "asa", OverrideAction.PAUSE, until)})
    [command] = plan(site, desired(site, MONDAY_9, db), [member("asa"), member("chen")], db, MONDAY_9)
    assert isinstance(command, PauseMember) and command.paused and command.agent == "asa"


def test_members_of_other_queues_are_left_alone(site: Site) -> None:
    foreign = Member("pension", "chen", interface("chen"), False, False, 1)
    assert plan(site, desired(site, MONDAY_9, EMPTY), [member("asa"), member("chen"), foreign], EMPTY, MONDAY_9) == []


def test_next_wakeup_is_the_next_shift_boundary(site: Site) -> None:
    assert next_wakeup(site, MONDAY_9, EMPTY) == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_astdb_tree_is_parsed_and_junk_skipped() -> None:
    db = parse_tree({
        "/telephony/focus/asa": "0",
        "/telephony/focus/bjorn": "1795000000",
        "/telephony/focus/bad": "soon",
        "/telephony/case/+46701234567": "asa",
        "/telephony/override/intake/asa/member": "join:1795000000",
        "/telephony/override/intake/asa/pause": "join:1795000000",
        "override/intake/bjorn/member": "leave:1795000000",
    })
    assert db.focus == {"asa": Focus("asa", None), "bjorn": Focus("bjorn", 1795000000)}
    assert db.cases == {"+46701234567": "asa"}
    assert list(db.overrides) == [("intake", "asa", "member"), ("intake", "bjorn", "member")]


def test_a_pause_made_outside_the_engine_is_left_alone(site: Site) -> None:
    members = [member("asa", paused=True, reason="lunch"), member("chen")]
    assert plan(site, desired(site, MONDAY_9, EMPTY), members, EMPTY, MONDAY_9) == []


def test_the_engines_own_manual_pause_is_undone_when_it_runs_out(site: Site) -> None:
    members = [member("asa", paused=True, reason=MANUAL_REASON), member("chen")]
    [command] = plan(site, desired(site, MONDAY_9, EMPTY), members, EMPTY, MONDAY_9)
    assert isinstance(command, PauseMember) and not command.paused and command.agent == "asa"


def test_a_stale_entry_on_a_call_is_paused_until_the_call_ends(site: Site) -> None:
    # Chen has two devices now, so the member should be the Local channel, not one phone.
    stale = Member("intake", "chen", "PJSIP/chen-soft", False, True, 2)
    commands = plan(site, desired(site, MONDAY_9, EMPTY), [member("asa"), stale], EMPTY, MONDAY_9)
    assert commands[0] == PauseMember(
        "intake", "chen", "PJSIP/chen-soft", True, LEAVING_REASON,
        "duplicate or stale; leaves after the current call",
    )
    assert isinstance(commands[1], AddMember) and commands[1].interface == "Local/1003@tel-member/n"


def test_a_member_with_an_old_state_interface_is_replaced(site: Site) -> None:
    # Releases before extension-based names watched `hint:<agent id>@tel-state`, which a
    # new render no longer has: app_queue would then see Asa as unavailable for good.
    old = Member("intake", "asa", interface("asa"), False, False, 1, "", "hint:asa@tel-state")
    commands = plan(site, desired(site, MONDAY_9, EMPTY), [old, member("chen")], EMPTY, MONDAY_9)
    assert [type(c) for c in commands] == [RemoveMember, AddMember]
    assert isinstance(commands[1], AddMember)
    assert commands[1].state_interface == state_interface(site.agent("asa"))
