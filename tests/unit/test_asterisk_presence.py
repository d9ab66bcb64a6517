"""Presence on Asterisk without a PBX: the hints, resource lists and phone keys rendered,
the Setvars a publication sends, and the events that say what phones do."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from asterisk_conf import sections

from telephony.asterisk import names, presence
from telephony.asterisk.ami import EventFilter
from telephony.asterisk.ami.events import (
    Event,
    ExtensionStatus,
    ListResponse,
    Message,
    Response,
    parse_event,
    parse_response,
)
from telephony.asterisk.port import AMI_EVENTS, AsteriskPort
from telephony.asterisk.render import render, resource_lists
from telephony.config import ConfigError, Site, load_site, parse_site
from telephony.port import Change, ChangeKind, MemberState, PbxRefused, Presence, Publish

DEMO = Path(__file__).resolve().parents[2] / "telephony" / "examples" / "demo-site.yaml"
SITE = load_site(DEMO, {})


def section(text: str, name: str) -> list[str]:
    return next(s for s in sections(text) if s.name == name).lines


def test_an_agents_hint_follows_every_device_and_the_engines_state() -> None:
    hints = section(render(SITE)["extensions.conf"], names.HINTS)
    assert (
        "exten => 1001,hint,PJSIP/asa-soft&PJSIP/asa-desk&Custom:tel-agent-asa,"
        "CustomPresence:tel-agent-asa" in hints
    )
    # The keys' lamps; bjorn is rostered in intake, so he has a duty key.
    assert "exten => *501002,hint,Custom:tel-duty-bjorn" in hints
    assert "exten => *511002,hint,Custom:tel-focus-bjorn" in hints
    # The queue state hints stay the devices alone: focus must not read busy to app_queue.
    state = section(render(SITE)["extensions.conf"], names.STATE)
    assert "exten => 1001,hint,PJSIP/asa-soft&PJSIP/asa-desk" in state


def test_the_phone_keys_are_reached_from_our_phones_only() -> None:
    conf = render(SITE)["extensions.conf"]
    assert f"include => {names.KEYS}" in section(conf, names.FROM_INTERNAL)
    assert f"include => {names.KEYS}" not in section(conf, names.FROM_TRUNK)
    keys = "\n".join(section(conf, names.KEYS))
    assert 'exten => *501001,1,GotoIf($["${TEL_FROM_AGENT}" = "asa"]?:refused,1)' in keys
    assert "Set(DB(telephony/override/intake/asa/member)=${TEL_DO}:${TEL_UNTIL})" in keys
    assert "Set(DB(telephony/focus/asa)=0)" in keys
    assert f"UserEvent({names.KEY_EVENT},Agent: asa,Key: focus)" in keys


def test_an_agent_in_no_hunt_group_has_no_duty_key() -> None:
    data = yaml.safe_load(DEMO.read_text())
    data["hunt_groups"][0]["roster"].pop("bjorn")
    site = parse_site(yaml.safe_dump(data, allow_unicode=True), {})
    conf = render(site)["extensions.conf"]
    assert "*501002" not in conf and "*511002" in conf
    lists = {rl.name: rl.extensions for rl in resource_lists(site)}
    assert lists["tel-blf-intake"] == ("1001", "1003")
    assert lists["tel-blf"] == ("1001", "1002", "1003")


def test_resource_lists_for_the_site_and_each_hunt_group_with_the_batch_interval() -> None:
    data = yaml.safe_load(DEMO.read_text())
    data["pbx"]["presence_batch_ms"] = 500
    site = parse_site(yaml.safe_dump(data, allow_unicode=True), {})
    pjsip = render(site)["pjsip.conf"]
    for name, event in [("tel-blf", "dialog"), ("tel-presence", "presence"),
                        ("tel-blf-intake", "dialog"), ("tel-presence-intake", "presence")]:
        lines = section(pjsip, name)
        assert "type=resource_list" in lines and f"event={event}" in lines
        assert "notification_batch_interval=500" in lines
        assert [x for x in lines if x.startswith("list_item=")] == [
            "list_item=1001", "list_item=1002", "list_item=1003"]
    assert "notification_batch_interval=200" in render(SITE)["pjsip.conf"]


@pytest.mark.parametrize(("change", "field"), [
    ({"duty_code": "*9"}, "duty_code"),
    ({"focus_code": "*50"}, "focus_code"),
    ({"duty_code": "*5", "focus_code": "*51"}, "duty_code"),
])
def test_feature_codes_must_differ_from_each_other_and_the_urgent_prefix(
    change: dict[str, str], field: str
) -> None:
    data = yaml.safe_load(DEMO.read_text())
    data["pbx"].update(change)
    with pytest.raises(ConfigError, match=field):
        parse_site(yaml.safe_dump(data, allow_unicode=True), {})


def values(command: Publish) -> dict[str, str]:
    return {a["Variable"]: a["Value"] for a in presence.setvars(command)}


def test_focus_and_away_read_busy_and_the_note_travels_encoded() -> None:
    focus = values(Publish("asa", Presence.FOCUS, "Focus until 14:00, then lunch", "api"))
    assert focus["DEVICE_STATE(Custom:tel-agent-asa)"] == "BUSY"
    state, subtype, message, options = focus["PRESENCE_STATE(CustomPresence:tel-agent-asa)"].split(",")
    assert (state, subtype, options) == ("dnd", "", "e")
    assert base64.b64decode(message).decode() == "Focus until 14:00, then lunch"
    assert focus["DEVICE_STATE(Custom:tel-focus-asa)"] == "INUSE"
    assert focus["DEVICE_STATE(Custom:tel-duty-asa)"] == "NOT_INUSE"
    away = values(Publish("asa", Presence.AWAY, "Away: lunch", "api"))
    assert away["DEVICE_STATE(Custom:tel-agent-asa)"] == "BUSY"
    assert away["PRESENCE_STATE(CustomPresence:tel-agent-asa)"].startswith("away,,")


@pytest.mark.parametrize("state", [Presence.AVAILABLE, Presence.ON_DUTY, Presence.RINGING,
                                   Presence.ON_CALL, Presence.WRAP_UP, Presence.OFFLINE])
def test_other_states_leave_the_lamp_to_the_devices(state: Presence) -> None:
    assert values(Publish("asa", state, "x", "y"))["DEVICE_STATE(Custom:tel-agent-asa)"] == (
        "UNAVAILABLE")


def test_a_call_hides_duty_and_focus_so_their_lamps_stay() -> None:
    on_call = values(Publish("asa", Presence.ON_CALL, "On a call", "phone"))
    assert not [v for v in on_call if "tel-duty" in v or "tel-focus" in v]
    on_duty = values(Publish("asa", Presence.ON_DUTY, "On duty until 10:00", "roster"))
    assert on_duty["DEVICE_STATE(Custom:tel-duty-asa)"] == "INUSE"
    assert on_duty["DEVICE_STATE(Custom:tel-focus-asa)"] == "NOT_INUSE"


@pytest.mark.parametrize(("status", "state"), [
    (0, MemberState.IDLE), (1, MemberState.ON_CALL), (2, MemberState.ON_CALL),
    (4, MemberState.UNAVAILABLE), (8, MemberState.RINGING), (9, MemberState.ON_CALL),
    (16, MemberState.ON_CALL), (-1, MemberState.UNKNOWN),
])
def test_extension_states_become_what_the_phones_do(status: int, state: MemberState) -> None:
    assert presence.member_state(status) is state


def extension_status(exten: str, context: str, status: int) -> ExtensionStatus:
    event = parse_event(Message.from_headers(
        ("Event", "ExtensionStatus"), ("Exten", exten), ("Context", context),
        ("Hint", "PJSIP/x"), ("Status", str(status)), ("StatusText", "x")))
    assert isinstance(event, ExtensionStatus)
    return event


class StubAmi:
    """What the port asks of AmiClient here: actions answered at once, one subscriber."""

    def __init__(self, listing: list[Event] | None = None) -> None:
        self.sent: list[tuple[str, dict[str, str]]] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.listing = listing or []
        self.refuse = False
        self.callback: Callable[[Event], None] | None = None

    async def send(self, action: str, headers: Mapping[str, str]) -> Response:
        self.sent.append((action, dict(headers)))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.01)
        self.in_flight -= 1
        answer = ("Response", "Error" if self.refuse else "Success")
        return parse_response(Message.from_headers(answer, ("Message", "x")))

    async def send_list(self, action: str, headers: Any = ()) -> ListResponse:
        response = parse_response(Message.from_headers(("Response", "Success")))
        return ListResponse(response, tuple(self.listing), None)

    def subscribe(self, callback: Callable[[Event], None], names: Any = None) -> Any:
        self.callback = callback

        class _Sub:
            def close(self) -> None:
                pass

        return _Sub()


def port_on(stub: StubAmi, site: Site = SITE) -> AsteriskPort:
    return AsteriskPort(site, client=stub)  # type: ignore[arg-type]


async def test_a_publication_sets_the_lamps_at_once_and_the_note_after_them() -> None:
    stub = StubAmi()
    port = port_on(stub)
    port.note_after = 0.05
    await port.apply(Publish("bjorn", Presence.FOCUS, "Focus", "api"))
    assert [h["Variable"] for _, h in stub.sent] == [
        "DEVICE_STATE(Custom:tel-agent-bjorn)", "DEVICE_STATE(Custom:tel-duty-bjorn)",
        "DEVICE_STATE(Custom:tel-focus-bjorn)"]
    assert stub.most_in_flight == 3  # one round trip
    async with asyncio.timeout(2):
        while len(stub.sent) < 4:
            await asyncio.sleep(0.01)
    assert stub.sent[3][1]["Variable"] == "PRESENCE_STATE(CustomPresence:tel-agent-bjorn)"
    stub.refuse = True
    with pytest.raises(PbxRefused):
        await port_on(stub).apply(Publish("bjorn", Presence.AWAY, "Away", "api"))
    with pytest.raises(PbxRefused, match="no such agent"):
        await port_on(StubAmi()).apply(Publish("nobody", Presence.AWAY, "Away", "api"))


async def test_phones_are_read_from_the_queue_state_hints() -> None:
    stub = StubAmi([
        extension_status("1001", names.STATE, 8),
        extension_status("1001", names.HINTS, 2),  # the BLF hint: busy in focus
        extension_status("1002", names.STATE, 1),
    ])
    phones = await port_on(stub)._phones()
    assert phones == {"asa": MemberState.RINGING, "bjorn": MemberState.ON_CALL,
                      "chen": MemberState.UNKNOWN}


def test_the_engine_hears_phone_states_and_keys_through_its_filter() -> None:
    filters = [f for f in AMI_EVENTS if isinstance(f, EventFilter)]
    assert EventFilter("ExtensionStatus", header="Context", starts_with=names.STATE) in filters
    assert EventFilter("UserEvent", header="UserEvent", starts_with=names.KEY_EVENT) in filters
    # Nothing else of those names reaches the engine.
    assert "ExtensionStatus" not in AMI_EVENTS and "UserEvent" not in AMI_EVENTS
    stub = StubAmi()
    heard: list[Change] = []
    port_on(stub).watch(heard.append)
    assert stub.callback is not None
    stub.callback(extension_status("1003", names.STATE, 1))
    stub.callback(extension_status("1003", names.HINTS, 1))
    stub.callback(extension_status("9999", names.STATE, 1))
    stub.callback(parse_event(Message.from_headers(
        ("Event", "UserEvent"), ("UserEvent", names.KEY_EVENT), ("Agent", "chen"),
        ("Key", "focus"))))
    stub.callback(parse_event(Message.from_headers(
        ("Event", "UserEvent"), ("UserEvent", names.KEY_EVENT), ("Agent", "mallory"))))
    assert heard == [
        Change(ChangeKind.PHONE_STATE, agent="chen", state=MemberState.ON_CALL),
        Change(ChangeKind.KEY, agent="chen"),
    ]


async def test_a_newer_publication_replaces_a_note_not_yet_sent() -> None:
    stub = StubAmi()
    port = port_on(stub)
    port.note_after = 0.05
    await port.apply(Publish("bjorn", Presence.FOCUS, "Focus until 14:00", "api"))
    await port.apply(Publish("bjorn", Presence.AVAILABLE, "Available", "api"))
    await asyncio.sleep(0.2)
    notes = [h["Value"] for _, h in stub.sent if h["Variable"].startswith("PRESENCE_STATE")]
    assert notes == [presence.presence_value(Presence.AVAILABLE, "Available")]
    await port.close()


async def test_closing_drops_a_note_not_yet_sent() -> None:
    stub = StubAmi()
    port = port_on(stub)
    await port.apply(Publish("bjorn", Presence.FOCUS, "Focus", "api"))
    await port.close()
    await asyncio.sleep(0)
    assert not [h for _, h in stub.sent if h["Variable"].startswith("PRESENCE_STATE")]
