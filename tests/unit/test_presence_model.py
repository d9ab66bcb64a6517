"""One presence per agent: which state wins, and the note in the site's time zone."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from telephony.config import load_site
from telephony.config.models import HuntGroup
from telephony.port import Family, Hold, Key, Member, MemberState, Presence
from telephony.presence.model import (
    PRECEDENCE,
    AgentPresence,
    Facts,
    busiest,
    clock_time,
    derive,
    facts,
    wrap_up,
)
from telephony.routing.membership import on_duty
from telephony.routing.roster import duty_end
from telephony.routing.state import EMPTY, Focus, StoredState, parse_keys, reason_problem

DEMO = Path(__file__).resolve().parents[2] / "telephony" / "examples" / "demo-site.yaml"
SITE = load_site(DEMO, {})
STOCKHOLM = ZoneInfo("Europe/Stockholm")
# Monday 2026-11-23 09:00 in Stockholm (UTC+1): asa (08-10) and chen (08-12) on duty.
MONDAY_9 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def at(hour: int, minute: int = 0, day: int = 23) -> datetime:
    """A Stockholm wall-clock time on Monday 2026-11-23 (or another day of that week)."""
    return datetime(2026, 11, day, hour, minute, tzinfo=STOCKHOLM).astimezone(UTC)


def everything(agent: str = "asa") -> Facts:
    """An agent for whom every state holds at once."""
    return Facts(
        agent, registered=True, phone=MemberState.ON_CALL, away="lunch", in_focus=True,
        focus_until=at(14), duty={"intake": at(10)}, wrap_until=at(9, 5),
    )


def drop(f: Facts, presence: Presence) -> Facts:
    """The same facts without the one that makes `presence` hold."""
    return {
        Presence.OFFLINE: replace(f, registered=True),
        Presence.ON_CALL: replace(f, phone=MemberState.RINGING),
        Presence.RINGING: replace(f, phone=MemberState.IDLE),
        Presence.WRAP_UP: replace(f, wrap_until=None),
        Presence.FOCUS: replace(f, in_focus=False, focus_until=None),
        Presence.AWAY: replace(f, away=None),
        Presence.ON_DUTY: replace(f, duty={}),
        Presence.AVAILABLE: f,
    }[presence]


def test_when_every_state_holds_each_wins_in_the_contracts_order() -> None:
    f = replace(everything(), registered=False)
    seen = []
    for expected in PRECEDENCE:
        seen.append(derive(f, MONDAY_9, STOCKHOLM).presence)
        f = drop(f, expected)
    assert seen == list(PRECEDENCE)
    assert list(PRECEDENCE) == [
        Presence.OFFLINE, Presence.ON_CALL, Presence.RINGING, Presence.WRAP_UP,
        Presence.FOCUS, Presence.AWAY, Presence.ON_DUTY, Presence.AVAILABLE,
    ]


@pytest.mark.parametrize(("facts_", "note", "until"), [
    (Facts("asa", True, MemberState.IDLE, in_focus=True, focus_until=at(14)),
     "Focus until 14:00", at(14)),
    (Facts("asa", True, MemberState.IDLE, in_focus=True), "Focus", None),
    (Facts("asa", True, MemberState.IDLE, duty={"intake": at(10)}), "On duty until 10:00",
     at(10)),
    (Facts("asa", True, MemberState.IDLE, away="lunch"), "Away: lunch", None),
    (Facts("asa", True, MemberState.ON_CALL), "On a call", None),
    (Facts("asa", True, MemberState.RINGING), "Ringing", None),
    (Facts("asa", True, MemberState.IDLE, wrap_until=at(9, 0, 23) + timedelta(seconds=30)),
     "Wrap-up", at(9) + timedelta(seconds=30)),
    (Facts("asa", False, MemberState.UNAVAILABLE), "Offline", None),
    (Facts("asa", True, MemberState.IDLE), "Available", None),
])
def test_the_note_says_the_state_in_words_in_the_sites_time_zone(
    facts_: Facts, note: str, until: datetime | None
) -> None:
    got = derive(facts_, at(9), STOCKHOLM)
    assert (got.note, got.until) == (note, until)


def test_a_time_on_another_day_names_the_day() -> None:
    assert clock_time(at(14, day=24), at(9), STOCKHOLM) == "Tue 14:00"
    assert clock_time(at(14, day=30), at(9), STOCKHOLM) == "2026-11-30 14:00"
    # Summer time: the offset of that day, not of today.
    assert clock_time(datetime(2027, 6, 1, 12, 0, tzinfo=UTC), at(9), STOCKHOLM) == (
        "2027-06-01 14:00")


def test_on_duty_in_several_groups_lasts_until_the_last_shift_ends() -> None:
    f = Facts("asa", True, MemberState.IDLE, duty={"intake": at(10), "sales": at(12)})
    got = derive(f, at(9), STOCKHOLM)
    assert (got.presence, got.on_duty, got.note) == (
        Presence.ON_DUTY, ("intake", "sales"), "On duty until 12:00")


def test_since_is_unknown_at_first_kept_while_the_state_holds_and_reset_on_a_change() -> None:
    idle = Facts("asa", True, MemberState.IDLE)
    first = derive(idle, at(9), STOCKHOLM)
    assert first.since is None
    later = derive(idle, at(9, 5), STOCKHOLM, first)
    assert later.since is None
    ringing = derive(Facts("asa", True, MemberState.RINGING), at(9, 6), STOCKHOLM, later)
    assert ringing.since == at(9, 6)
    still = derive(Facts("asa", True, MemberState.RINGING), at(9, 7), STOCKHOLM, ringing)
    assert still.since == at(9, 6)


def test_busiest_device_wins() -> None:
    assert busiest([MemberState.IDLE, MemberState.ON_CALL, MemberState.RINGING]) is (
        MemberState.ON_CALL)
    assert busiest([MemberState.UNAVAILABLE, MemberState.IDLE]) is MemberState.IDLE
    assert busiest([]) is MemberState.UNAVAILABLE


def gathered(
    stored: StoredState = EMPTY, members: tuple[Member, ...] = (),
    registered: frozenset[str] | None = frozenset({"asa", "bjorn", "chen"}),
    phones: dict[str, MemberState] | None = None, now: datetime = MONDAY_9,
) -> dict[str, AgentPresence]:
    duty = on_duty(SITE, now, stored)
    entries: dict[str, list[Member]] = {}
    for m in members:
        entries.setdefault(m.agent, []).append(m)
    found = facts(SITE, now, stored, entries, registered, phones, duty, {})
    return {a: derive(f, now, STOCKHOLM) for a, f in found.items()}


def test_facts_from_the_roster_registration_and_phones() -> None:
    got = gathered(registered=frozenset({"asa", "chen"}),
                   phones={"asa": MemberState.IDLE, "chen": MemberState.RINGING,
                           "bjorn": MemberState.UNAVAILABLE})
    assert {a: p.presence for a, p in got.items()} == {
        "asa": Presence.ON_DUTY, "chen": Presence.RINGING, "bjorn": Presence.OFFLINE}
    assert got["asa"].note == "On duty until 10:00"
    assert got["asa"].on_duty == ("intake",)


def test_without_phones_the_busiest_queue_entry_speaks_for_the_devices() -> None:
    members = (
        Member("intake", "asa", "r1", state=MemberState.ON_CALL),
        Member("pension", "chen", "r2", state=MemberState.UNAVAILABLE),
    )
    got = gathered(members=members, registered=None)
    assert got["asa"].presence is Presence.ON_CALL
    assert got["chen"].presence is Presence.OFFLINE  # no device registered, says app_queue
    assert got["bjorn"].presence is Presence.AVAILABLE  # in no queue: nothing says otherwise


def test_stored_away_and_focus_and_a_manual_join() -> None:
    stored = parse_keys({
        Key(Family.AWAY, ("asa",)): "lunch",
        Key(Family.FOCUS, ("chen",)): str(int(at(14).timestamp())),
        Key(Family.OVERRIDE, ("intake", "bjorn", "member")): f"join:{int(at(11).timestamp())}",
    })
    got = gathered(stored)
    assert (got["asa"].presence, got["asa"].reason, got["asa"].note) == (
        Presence.AWAY, "lunch", "Away: lunch")
    assert (got["chen"].presence, got["chen"].note) == (Presence.FOCUS, "Focus until 14:00")
    assert (got["bjorn"].presence, got["bjorn"].note) == (Presence.ON_DUTY, "On duty until 11:00")


def test_an_ended_focus_still_stored_is_not_shown() -> None:
    stored = StoredState({"chen": Focus("chen", int(MONDAY_9.timestamp()) - 1)}, {}, {})
    assert gathered(stored)["chen"].presence is Presence.ON_DUTY


def test_held_in_every_queue_by_someone_else_reads_away_with_the_pbxs_words() -> None:
    members = (Member("intake", "chen", "r", hold=Hold.EXTERNAL, hold_reason="On Break"),)
    assert gathered(members=members)["chen"].note == "Away: On Break"
    leaving = (Member("intake", "chen", "r", hold=Hold.LEAVING),)
    assert gathered(members=leaving)["chen"].presence is Presence.ON_DUTY


def test_wrap_up_takes_the_longest_of_the_groups_the_agent_takes_calls_from() -> None:
    ended = at(9)
    members = (Member("intake", "asa", "r"),)  # intake: wrapup_seconds 30
    assert wrap_up(SITE, "asa", members, ended) == ended + timedelta(seconds=30)
    held = (Member("intake", "asa", "r", hold=Hold.MANUAL),)
    assert wrap_up(SITE, "asa", held, ended) is None
    assert wrap_up(SITE, "bjorn", members, ended) is None


@pytest.mark.parametrize(("reason", "problem"), [
    ("lunch", None), ("Back at 14:00 — dentist", None), ("", "must not be empty"),
    ("  ", "must not be empty"), ("x" * 65, "at most 64 characters"),
    ("a/b", 'printable characters only, without "/"'),
    ("a\nb", 'printable characters only, without "/"'),
])
def test_an_away_reason_is_short_printable_text(reason: str, problem: str | None) -> None:
    assert reason_problem(reason) == problem


def test_a_malformed_stored_reason_is_skipped() -> None:
    assert parse_keys({Key(Family.AWAY, ("asa",)): "a/b"}).away == {}


def group_with(roster: dict[str, dict[str, list[str]]]) -> HuntGroup:
    return HuntGroup.model_validate({"id": "g", "number": "2000", "roster": roster})


def test_back_to_back_shifts_read_as_one_duty() -> None:
    group = group_with({"asa": {"mon": ["08:00-10:00", "10:00-12:00"], "tue": ["08:00-10:00"]}})
    assert duty_end(group, STOCKHOLM, "asa", at(9)) == at(12)
    assert duty_end(group, STOCKHOLM, "asa", at(12)) == at(12)  # off duty: now


def test_a_duty_across_midnight_ends_the_next_day_and_round_the_clock_never() -> None:
    night = group_with({"asa": {"mon": ["20:00-24:00"], "tue": ["00:00-06:00"]}})
    assert duty_end(night, STOCKHOLM, "asa", at(21)) == at(6, day=24)
    always = group_with({"asa": {d: ["00:00-24:00"] for d in
                                 ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}})
    assert duty_end(always, STOCKHOLM, "asa", at(9)) is None
    f = Facts("asa", True, MemberState.IDLE, duty={"g": None, "intake": at(10)})
    got = derive(f, at(9), STOCKHOLM)
    assert (got.presence, got.until, got.note) == (Presence.ON_DUTY, None, "On duty")
