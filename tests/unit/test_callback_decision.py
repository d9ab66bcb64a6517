"""Which waiting caller is called back through which agent (pure: no PBX, no engine)."""

from __future__ import annotations

import pytest
from callback_sites import site, without_dial_out

from telephony.port import Hold, Member, MemberState
from telephony.port.model import Family, Key
from telephony.routing.callback import (
    CALLER_RING_SECONDS,
    MAX_TRIES,
    Dial,
    Request,
    UnderWay,
    assign,
    callback_trunk,
    due,
    exhausted,
    next_due,
    outbound,
    requests,
    tried,
    unusable,
)
from telephony.routing.state import StoredCallback, parse_keys

SITE = site()


def member(
    agent: str,
    queue: str = "pension",
    level: int = 1,
    state: MemberState = MemberState.IDLE,
    hold: Hold | None = None,
) -> Member:
    return Member(queue, agent, f"ref-{agent}", hold=hold, state=state, level=level)


def who(dials: list[Dial]) -> list[tuple[str, str, str]]:
    return [(d.agent, d.queue, d.caller) for d in dials]


def test_requests_come_oldest_first() -> None:
    stored = {
        ("pension", "+4670222"): StoredCallback(200),
        ("tax", "+4670111"): StoredCallback(100, tries=2, rest_until=400),
        ("pension", "+4670333"): StoredCallback(150),
    }
    assert [r.caller for r in requests(stored)] == ["+4670111", "+4670333", "+4670222"]


def test_the_oldest_request_of_a_queue_goes_first() -> None:
    pending = [Request("pension", "+4670222", 200), Request("pension", "+4670111", 100)]
    dials = assign(SITE, pending, [member("asa")], [])
    assert who(dials) == [("asa", "pension", "+4670111")]


def test_the_most_skilled_free_member_calls_back() -> None:
    pending = [Request("pension", "+4670111", 100)]
    members = [member("bjorn", level=2), member("asa", level=1)]
    assert who(assign(SITE, pending, members, [])) == [("asa", "pension", "+4670111")]


def test_equal_levels_go_by_the_agents_place_in_the_site() -> None:
    pending = [Request("pension", "+4670111", 100)]
    members = [member("bjorn", level=1), member("asa", level=1)]
    assert who(assign(SITE, pending, members, [])) == [("asa", "pension", "+4670111")]


@pytest.mark.parametrize("state", [MemberState.RINGING, MemberState.ON_CALL,
                                   MemberState.UNAVAILABLE, MemberState.UNKNOWN])
def test_an_agent_who_is_not_idle_is_not_offered_a_callback(state: MemberState) -> None:
    pending = [Request("pension", "+4670111", 100)]
    members = [member("asa", level=1, state=state), member("bjorn", level=2)]
    assert who(assign(SITE, pending, members, [])) == [("bjorn", "pension", "+4670111")]


def test_an_agent_busy_through_another_queue_is_not_offered_a_callback() -> None:
    pending = [Request("pension", "+4670111", 100)]
    members = [member("asa"), member("asa", queue="tax", state=MemberState.ON_CALL)]
    assert assign(SITE, pending, members, []) == []


@pytest.mark.parametrize("hold", list(Hold))
def test_a_held_member_is_not_offered_a_callback(hold: Hold) -> None:
    pending = [Request("pension", "+4670111", 100)]
    members = [member("asa", hold=hold), member("bjorn", level=2)]
    assert who(assign(SITE, pending, members, [])) == [("bjorn", "pension", "+4670111")]


def test_only_members_of_the_requests_queue_call_back() -> None:
    pending = [Request("pension", "+4670111", 100)]
    assert assign(SITE, pending, [member("chen", queue="tax")], []) == []


def test_an_agent_makes_one_callback_at_a_time() -> None:
    pending = [Request("pension", "+4670111", 100), Request("pension", "+4670222", 200)]
    members = [member("asa", level=1), member("bjorn", level=2)]
    assert who(assign(SITE, pending, members, [])) == [
        ("asa", "pension", "+4670111"), ("bjorn", "pension", "+4670222"),
    ]


def test_an_agent_with_a_callback_under_way_is_not_offered_another() -> None:
    pending = [Request("pension", "+4670222", 200)]
    under_way = [UnderWay("asa", "pension", "+4670111")]
    assert who(assign(SITE, pending, [member("asa"), member("bjorn", level=2)], under_way)) == [
        ("bjorn", "pension", "+4670222"),
    ]


def test_a_request_under_way_is_never_dialled_twice() -> None:
    pending = [Request("pension", "+4670111", 100)]
    under_way = [UnderWay("asa", "pension", "+4670111")]
    assert assign(SITE, pending, [member("bjorn")], under_way) == []


def test_an_agent_in_two_queues_takes_the_oldest_request_of_either() -> None:
    pending = [Request("pension", "+4670222", 200), Request("tax", "+4670111", 100)]
    members = [member("asa", queue="pension"), member("asa", queue="tax")]
    assert who(assign(SITE, pending, members, [])) == [("asa", "tax", "+4670111")]


def test_a_request_waits_while_nobody_is_free() -> None:
    pending = [Request("pension", "+4670111", 100)]
    assert assign(SITE, pending, [member("asa", state=MemberState.ON_CALL)], []) == []


def test_nothing_is_dialled_without_a_trunk_to_dial_out_through() -> None:
    pending = [Request("pension", "+4670111", 100)]
    assert assign(without_dial_out(), pending, [member("asa")], []) == []


def test_requests_for_unknown_queues_or_callers_that_are_not_numbers_are_unusable() -> None:
    pending = [
        Request("gone", "+4670111", 100),
        Request("pension", "anonymous", 100),
        Request("pension", "+4670222", 100),
    ]
    bad = unusable(SITE, pending)
    assert [(r.queue, r.caller) for r, _ in bad] == [("gone", "+4670111"), ("pension", "anonymous")]
    assert "gone" in bad[0][1] and "not a number" in bad[1][1]
    assert who(assign(SITE, pending, [member("asa")], [])) == [("asa", "pension", "+4670222")]


def test_the_callback_trunk_is_the_first_with_a_dial_host() -> None:
    trunk = callback_trunk(SITE)
    assert trunk is not None and trunk.id == "pstn"
    assert callback_trunk(without_dial_out()) is None


@pytest.mark.parametrize(("agent", "caller", "queue", "field"), [
    ("nobody", "+4670111", "pension", "agent"),
    ("asa", "+4670111", "nothing", "queue"),
    ("asa", "070 111", "pension", "caller"),
    ("asa", "+4670111;x", "pension", "caller"),
])
def test_outbound_names_the_bad_argument(agent: str, caller: str, queue: str, field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}: "):
        outbound(SITE, agent, caller, queue)


def test_outbound_without_a_dial_out_trunk_names_the_trunks() -> None:
    plain = without_dial_out()
    with pytest.raises(ValueError, match="^trunks: "):
        outbound(plain, "asa", "+4670111", "pension")


def test_a_request_is_stored_as_the_dialplan_writes_it_until_a_try_marks_it() -> None:
    first = StoredCallback(1700000000)
    assert first.encode() == "1700000000"
    marked = tried(Request("pension", "+4670111", 1700000000), agent_ring=15, now=1700000100)
    assert marked.joined == 1700000000 and marked.tries == 1
    # Under way for both rings at least: no second dial while the first may ring.
    assert marked.rest_until >= 1700000100 + 15 + CALLER_RING_SECONDS
    key = Key(Family.CALLBACK, ("pension", "+4670111"))
    assert parse_keys({key: marked.encode()}).callbacks == {("pension", "+4670111"): marked}


def test_a_malformed_request_value_is_skipped() -> None:
    key = Key(Family.CALLBACK, ("pension", "+4670111"))
    for value in ("", "soon", "1700000000;1", "1700000000;x;5", "1700000000;1;5;9"):
        assert parse_keys({key: value}).callbacks == {}


def test_a_request_under_way_or_resting_is_not_due_until_its_rest_is_over() -> None:
    fresh = Request("pension", "+4670111", 100)
    resting = Request("pension", "+4670222", 90, tries=1, rest_until=500)
    assert due([fresh, resting], now=400) == [fresh]
    assert due([fresh, resting], now=500) == [fresh, resting]
    assert next_due([fresh, resting], now=400) == 500


def test_a_request_tried_as_often_as_allowed_is_exhausted_once_its_rest_is_over() -> None:
    last = Request("pension", "+4670111", 100, tries=MAX_TRIES, rest_until=500)
    assert due([last], now=600) == []
    assert exhausted([last], now=499) == []
    assert exhausted([last], now=500) == [last]
