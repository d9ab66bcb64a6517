"""FreeSWITCH's words for the port's: mod_callcenter lists, packed mod_db values."""

from __future__ import annotations

from telephony.freeswitch.port import (
    pack_holds,
    pack_overrides,
    parse_rows,
    unpack_holds,
    unpack_overrides,
)
from telephony.port import Hold

# As FreeSWITCH 1.10.12 answers (../shared/freeswitch-esl/06_callcenter.txt).
TIER_LIST = "queue|agent|state|level|position\nsupport@default|agent1000@default|Ready|1|1\n+OK\n"


def test_a_callcenter_list_becomes_rows_by_column_name() -> None:
    assert parse_rows(TIER_LIST) == [{
        "queue": "support@default", "agent": "agent1000@default", "state": "Ready",
        "level": "1", "position": "1",
    }]


def test_an_empty_list_and_a_ragged_row_give_nothing() -> None:
    assert parse_rows("queue|agent|state|level|position\n+OK\n") == []
    assert parse_rows("") == []
    assert parse_rows("queue|agent\nonly-one-cell\n+OK\n") == []


def test_overrides_pack_into_one_value_and_back() -> None:
    entries = {("intake", "member"): "join:1795000000", ("rota", "pause"): "pause:1795000300"}
    packed = pack_overrides(entries)
    assert packed == "intake.member=join:1795000000;rota.pause=pause:1795000300"
    assert unpack_overrides(packed) == entries


def test_malformed_override_entries_are_skipped_not_guessed() -> None:
    assert unpack_overrides("intake.member=join:1;garbage;=x;rota.=y;.pause=z") == {
        ("intake", "member"): "join:1"
    }


def test_holds_pack_into_one_value_and_back() -> None:
    held = {"intake": Hold.MANUAL, "rota": Hold.LEAVING}
    assert pack_holds(held) == "intake:manual,rota:leaving"
    assert unpack_holds("intake:manual,rota:leaving") == held


def test_only_our_own_holds_are_read_back() -> None:
    assert unpack_holds("intake:external,rota:manual,:leaving,x") == {"rota": Hold.MANUAL}
