"""Asterisk's words for the port's: app_queue members, pause reasons, AstDB keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from telephony.asterisk import astdb, registrations
from telephony.asterisk.ami.events import Event, Message, QueueMember, parse_event
from telephony.asterisk.port import (
    AMI_EVENTS,
    LEAVING_REASON,
    MANUAL_REASON,
    AsteriskPort,
    member_of,
)
from telephony.config import Site, load_site
from telephony.port.model import (
    DeleteKey,
    Family,
    Hold,
    Join,
    Key,
    Leave,
    MemberState,
    PutKey,
    SetHold,
)

DEMO = Path(__file__).resolve().parents[2] / "telephony" / "examples" / "demo-site.yaml"
SITE = load_site(DEMO, {})


@pytest.fixture(scope="module")
def site() -> Site:
    return SITE


def queue_member(**headers: str) -> QueueMember:
    fields = {
        "Queue": "intake", "Name": "asa", "Location": "Local/1001@tel-member/n",
        "StateInterface": "hint:1001@tel-state", "Penalty": "0", "InCall": "0", "Status": "1",
        "Paused": "0", "PausedReason": "",
    }
    fields.update(headers)
    event = parse_event(Message.from_headers(("Event", "QueueMember"), *fields.items()))
    assert isinstance(event, QueueMember)
    return event


@pytest.mark.parametrize(("reason", "hold"), [
    (LEAVING_REASON, Hold.LEAVING),
    (MANUAL_REASON, Hold.MANUAL),
    ("lunch", Hold.EXTERNAL),
    ("", Hold.EXTERNAL),
])
def test_a_pause_reason_says_whose_hold_it_is(site: Site, reason: str, hold: Hold) -> None:
    assert member_of(queue_member(Paused="1", PausedReason=reason), site).hold is hold


def test_an_external_pause_keeps_its_reason_for_people_to_read(site: Site) -> None:
    member = member_of(queue_member(Paused="1", PausedReason="lunch"), site)
    assert member.hold_reason == "lunch"
    assert member_of(queue_member(Paused="1", PausedReason=MANUAL_REASON), site).hold_reason == ""


@pytest.mark.parametrize(("status", "in_call", "state"), [
    ("1", "0", MemberState.IDLE),
    ("2", "0", MemberState.ON_CALL),
    ("6", "0", MemberState.RINGING),
    ("5", "0", MemberState.UNAVAILABLE),
    ("1", "1", MemberState.ON_CALL),
])
def test_device_states_become_neutral_member_states(
    site: Site, status: str, in_call: str, state: MemberState
) -> None:
    assert member_of(queue_member(Status=status, InCall=in_call), site).state is state


def test_an_entry_with_another_interface_or_state_interface_is_not_current(site: Site) -> None:
    assert member_of(queue_member(), site).current
    assert not member_of(queue_member(Location="PJSIP/asa-soft"), site).current
    # Releases before extension-based names watched `hint:<agent id>@tel-state`.
    assert not member_of(queue_member(StateInterface="hint:asa@tel-state"), site).current


def test_the_interface_is_the_entrys_ref(site: Site) -> None:
    assert member_of(queue_member(), site).ref == "Local/1001@tel-member/n"


def test_neutral_keys_live_under_telephony_in_astdb() -> None:
    assert astdb.location(Key(Family.FOCUS, ("asa",))) == ("telephony/focus", "asa")
    assert astdb.location(Key(Family.OVERRIDE, ("intake", "asa", "pause"))) == (
        "telephony/override/intake/asa", "pause"
    )
    assert astdb.key_of("/telephony/case/+4670") == Key(Family.CASE, ("+4670",))
    assert astdb.key_of("override/intake/asa/member") == Key(
        Family.OVERRIDE, ("intake", "asa", "member")
    )
    assert astdb.key_of("/telephony/other/x") is None
    assert astdb.key_of("/telephony/focus/") is None


def test_commands_become_the_app_queue_and_astdb_actions(site: Site) -> None:
    port = AsteriskPort(site, client=None)  # type: ignore[arg-type]
    action, headers = port._action(Join("intake", "asa", "on duty", hold=Hold.MANUAL))
    assert action == "QueueAdd"
    assert headers["Interface"] == "Local/1001@tel-member/n"
    assert headers["StateInterface"] == "hint:1001@tel-state"
    assert (headers["Paused"], headers["Reason"]) == ("true", MANUAL_REASON)
    assert port._action(Leave("intake", "asa", "PJSIP/x", "off"))[0] == "QueueRemove"
    action, headers = port._action(SetHold("intake", "asa", "PJSIP/x", Hold.LEAVING, "end"))
    assert (action, headers["Reason"], headers["Interface"]) == (
        "QueuePause", LEAVING_REASON, "PJSIP/x"
    )
    assert port._action(SetHold("intake", "asa", "PJSIP/x", None, "back"))[1]["Paused"] == "false"
    assert port._action(PutKey(Key(Family.FOCUS, ("asa",)), "0", "focus")) == (
        "DBPut", {"Family": "telephony/focus", "Key": "asa", "Val": "0"}
    )
    assert port._action(DeleteKey(Key(Family.CASE, ("+4670",)), "unlink")) == (
        "DBDel", {"Family": "telephony/case", "Key": "+4670"}
    )


def contact(**headers: str) -> Event:
    """A PJSIPShowContacts entry as Asterisk 22 lists it (the fields used here)."""
    fields = {"ObjectType": "contact", "ObjectName": "bjorn-soft;@83cb03d96ed31955",
              "Endpoint": "bjorn-soft", "Status": "NonQualified"}
    fields.update(headers)
    return parse_event(Message.from_headers(("Event", "ContactList"), *fields.items()))


def test_a_contacts_aor_is_its_object_name_before_the_hash() -> None:
    assert registrations.contact_aor(contact()) == "bjorn-soft"
    status = parse_event(Message.from_headers(
        ("Event", "ContactStatus"), ("AOR", "asa-desk"), ("ContactStatus", "Created")))
    assert registrations.contact_aor(status) == "asa-desk"


def test_registration_changes_reach_the_engine_through_its_event_filter() -> None:
    assert registrations.CONTACT_EVENT in AMI_EVENTS


def status(aor: str, uri: str, state: str) -> Event:
    """A ContactStatus event as Asterisk 22 raises it (the fields used here)."""
    return parse_event(Message.from_headers(
        ("Event", "ContactStatus"), ("URI", uri), ("ContactStatus", state), ("AOR", aor),
        ("EndpointName", aor)))


def listed(aor: str, uri: str, state: str = "NonQualified") -> Event:
    return contact(ObjectName=f"{aor};@{abs(hash(uri)):x}", Endpoint=aor, Uri=uri, Status=state)


DESK = "sip:asa@127.0.0.1:5071"
SOFT = "sip:asa@127.0.0.1:5072"


def loaded_book(*contacts: Event) -> registrations.ContactBook:
    book = registrations.ContactBook()
    book.load(book.begin(), contacts)
    return book


def test_a_listed_contact_makes_its_device_registered_unless_unreachable() -> None:
    book = loaded_book(listed("asa-desk", DESK), listed("bjorn-soft", SOFT, "Unreachable"))
    assert book.known
    assert book.devices() == {"asa-desk"}


def test_contact_events_after_the_listing_keep_the_book_current() -> None:
    book = loaded_book(listed("asa-desk", DESK))
    book.hear(status("bjorn-soft", SOFT, "Created"))
    assert book.devices() == {"asa-desk", "bjorn-soft"}
    book.hear(status("asa-desk", DESK, "Removed"))
    assert book.devices() == {"bjorn-soft"}
    book.hear(status("bjorn-soft", SOFT, "Unreachable"))
    assert book.devices() == frozenset()
    book.hear(status("bjorn-soft", SOFT, "Reachable"))
    assert book.devices() == {"bjorn-soft"}


def test_a_device_stays_registered_while_one_of_its_contacts_remains() -> None:
    book = loaded_book(listed("asa-desk", DESK), listed("asa-desk", SOFT))
    book.hear(status("asa-desk", DESK, "Removed"))
    assert book.devices() == {"asa-desk"}


def test_a_refreshed_registration_keeps_what_qualify_found() -> None:
    book = loaded_book(listed("asa-desk", DESK, "Unreachable"))
    book.hear(status("asa-desk", DESK, "Updated"))
    assert book.devices() == frozenset()


def test_events_heard_while_a_listing_is_on_its_way_are_replayed_onto_it() -> None:
    book = registrations.ContactBook()
    listing = book.begin()
    # Asterisk listed the contact before the un-REGISTER; its event reached us first.
    book.hear(status("asa-desk", DESK, "Removed"))
    book.load(listing, [listed("asa-desk", DESK)])
    assert book.devices() == frozenset()


def test_a_lost_connection_makes_the_book_unknown_until_the_next_listing() -> None:
    book = loaded_book(listed("asa-desk", DESK))
    book.forget()
    assert not book.known
    listing = book.begin()
    book.forget()  # lost again while listing: events after it may be missing too
    book.load(listing, [listed("asa-desk", DESK)])
    assert not book.known
    book.load(book.begin(), [])
    assert book.known and book.devices() == frozenset()


def test_two_listings_on_their_way_each_get_the_events_heard_after_their_start() -> None:
    book = registrations.ContactBook()
    first, second = book.begin(), book.begin()
    book.load(second, [])  # the second answered first, before anything was heard
    book.hear(status("asa-desk", DESK, "Created"))
    book.load(first, [])  # listed before the registration: the event is replayed
    assert book.devices() == {"asa-desk"}
