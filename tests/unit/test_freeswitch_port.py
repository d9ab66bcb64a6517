"""FreeSWITCH's words for the port's: mod_callcenter lists, packed mod_db values."""

from __future__ import annotations

from telephony.freeswitch.esl import Event, EventFormat
from telephony.freeswitch.port import (
    Held,
    neutral_level,
    pack_holds,
    pack_overrides,
    parse_rows,
    tier_level,
    unpack_holds,
    unpack_overrides,
)
from telephony.freeswitch.registrations import registered_devices, registration_device
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
    held = {"intake": Held(Hold.MANUAL), "rota": Held(Hold.LEAVING)}
    assert pack_holds(held) == "intake:manual,rota:leaving"
    assert unpack_holds("intake:manual,rota:leaving") == held


def test_a_held_entry_keeps_the_level_its_tier_comes_back_at() -> None:
    held = {"pension": Held(Hold.MANUAL, 3), "intake": Held(Hold.LEAVING)}
    assert pack_holds(held) == "intake:leaving,pension:manual:3"
    assert unpack_holds("intake:leaving,pension:manual:3") == held


def test_only_our_own_holds_are_read_back() -> None:
    assert unpack_holds("intake:external,rota:manual,:leaving,x") == {
        "rota": Held(Hold.MANUAL)}


def test_a_hold_with_a_level_out_of_range_keeps_the_hold_at_level_1() -> None:
    assert unpack_holds("rota:manual:9,intake:manual:x") == {
        "rota": Held(Hold.MANUAL), "intake": Held(Hold.MANUAL)}


def test_level_1_is_tier_level_0_so_tier_rules_ring_it_at_once() -> None:
    assert [tier_level(n) for n in (1, 2, 5)] == [0, 1, 4]
    assert [neutral_level(tier_level(n)) for n in (1, 2, 5)] == [1, 2, 5]


# `sofia xmlstatus profile telephony reg`, as FreeSWITCH 1.10.12 answers.
REGISTRATIONS = """<?xml version="1.0" encoding="ISO-8859-1"?>
<profile>
  <registrations>
    <registration>
      <call-id>1-2@127.0.0.1</call-id>
      <user>asa-soft@test-site</user>
      <contact>&quot;&quot; &lt;sip:asa-soft@127.0.0.1:40000&gt;</contact>
      <status>Registered(UDP)(unknown) EXP(2026-12-01 10:00:00) EXPSECS(299)</status>
      <sip-auth-user>asa-soft</sip-auth-user>
      <sip-auth-realm>test-site</sip-auth-realm>
    </registration>
    <registration>
      <user>chen-soft@test-site</user>
    </registration>
  </registrations>
</profile>
"""


def test_registered_devices_are_read_from_the_profiles_registrations() -> None:
    assert registered_devices(REGISTRATIONS) == {"asa-soft", "chen-soft"}
    assert registered_devices("<profile><registrations/></profile>") == frozenset()


def test_a_profile_that_is_not_running_cannot_tell_who_is_registered() -> None:
    assert registered_devices("Invalid Profile!") is None


def custom(subclass: str, *headers: tuple[str, str]) -> Event:
    names, values = zip(("Event-Name", "CUSTOM"), ("Event-Subclass", subclass), *headers,
                        strict=True)
    return Event("CUSTOM", subclass, names, values, None, EventFormat.PLAIN)


def test_registration_events_name_the_device_and_others_are_not_about_registration() -> None:
    assert registration_device(custom("sofia::register", ("username", "asa-soft"))) == "asa-soft"
    assert registration_device(custom("sofia::unregister", ("username", "asa-soft"))) == (
        "asa-soft")
    assert registration_device(custom("sofia::expire", ("user", "chen-soft"))) == "chen-soft"
    assert registration_device(custom("callcenter::info", ("username", "asa-soft"))) is None
