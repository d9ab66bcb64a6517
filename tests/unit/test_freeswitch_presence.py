"""Presence on FreeSWITCH: the PRESENCE_IN events the port sends and the device legs it
follows (telephony.freeswitch.presence), against a scripted Event Socket client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Collection
from pathlib import Path
from typing import Any

import pytest

from telephony.config import Site
from telephony.config.load import load_site
from telephony.config.models import PbxKind
from telephony.freeswitch.esl import (
    ClientEvent,
    EslConnectionError,
    Event,
    EventFormat,
    Reconnected,
)
from telephony.freeswitch.presence import (
    MARK,
    PRESENCE_EVENTS,
    Phones,
    PresencePublisher,
    lamp_headers,
    leg_state,
    note_text,
    pidf_headers,
    show_channels_rows,
)
from telephony.port import Change, ChangeKind, MemberState, PbxUnavailable, Presence

DOMAIN = "fund-demo"
DEMO = Path(__file__).resolve().parents[2] / "telephony" / "examples" / "demo-site.yaml"


@pytest.fixture
def site() -> Site:
    return load_site(DEMO, {"TELEPHONY_AMI_SECRET": "a-long-esl-secret"}, kind=PbxKind.FREESWITCH)


def event(name: str, *headers: tuple[str, str]) -> Event:
    names, values = zip(("Event-Name", name), *headers, strict=True)
    return Event(name, None, names, values, None, EventFormat.PLAIN)


def leg(uuid: str, presence: str, call_state: str, direction: str = "outbound",
        channel_state: str = "CS_EXECUTE", answer: str = "ringing") -> Event:
    """A PRESENCE_IN as a channel raises it (proto any, its presence id as from)."""
    return event(
        "PRESENCE_IN", ("proto", "any"), ("from", presence), ("Unique-ID", uuid),
        ("Channel-State", channel_state), ("Channel-Call-State", call_state),
        ("Answer-State", answer), ("Call-Direction", direction),
        ("Caller-Caller-ID-Number", "+46701234567"),
    )


class FakeClient:
    """The parts of EslClient the publisher uses; records every sendevent."""

    def __init__(self, events: Collection[str] = (*PRESENCE_EVENTS, "CHANNEL_ANSWER")) -> None:
        self.events = frozenset(events)
        self.sent: list[dict[str, str]] = []
        self.apis: list[str] = []
        self.answers: dict[str, str] = {}
        self.callback: Callable[[ClientEvent], Awaitable[None] | None] | None = None
        self.down = False

    def subscribe(self, callback: Any, names: Any = None) -> Any:
        self.callback = callback
        client = self

        class _Sub:
            async def aclose(self) -> None:
                client.callback = None

        return _Sub()

    async def command(self, line: str, headers: Any = (), **_: Any) -> None:
        if self.down:
            raise EslConnectionError("lost")
        assert line == "sendevent PRESENCE_IN"
        self.sent.append(dict(headers))

    def to(self, user: str) -> list[dict[str, str]]:
        """What was sent about one extension or key."""
        return [s for s in self.sent if s["from"] == f"{user}@{DOMAIN}"]

    async def api(self, command: str, **_: Any) -> str:
        self.apis.append(command)
        for prefix, answer in self.answers.items():
            if command.startswith(prefix):
                return answer
        return ""

    async def feed(self, e: ClientEvent) -> None:
        assert self.callback is not None
        result = self.callback(e)
        if result is not None:
            await result


def publisher(site: Site, client: FakeClient) -> PresencePublisher:
    pub = PresencePublisher(client, site)  # type: ignore[arg-type]
    pub.rest_after = 0  # all of a publication at once: what is sent, not when
    return pub


# -- what is sent


def test_the_note_is_escaped_and_beyond_ascii_a_character_reference() -> None:
    assert note_text("Away: lunch & <fika>") == "Away: lunch &amp; &lt;fika&gt;"
    assert note_text("Borta: på möte") == "Borta: p&#229; m&#246;te"
    assert note_text("Focus until 14:00") == "Focus until 14:00"


def test_a_pidf_publication_carries_the_note_and_reads_busy_in_focus() -> None:
    headers = dict(pidf_headers(Presence.FOCUS, "Focus until 14:00", "asa", "1001", DOMAIN))
    assert headers == {
        "proto": "sip", "from": "1001@fund-demo", "login": "telephony", MARK: "asa",
        "status": "Focus until 14:00", "rpid": "busy",
        "event_type": "presence", "alt_event_type": "presence",
    }
    assert dict(pidf_headers(Presence.AWAY, "Away: lunch", "asa", "1001", DOMAIN))["rpid"] == (
        "busy")
    available = dict(pidf_headers(Presence.ON_DUTY, "On duty until 10:00", "asa", "1001", DOMAIN))
    assert (available["status"], available["rpid"]) == ("On duty until 10:00", "unknown")


def test_offline_is_freeswitchs_own_unregistered_so_the_pidf_reads_closed() -> None:
    headers = dict(pidf_headers(Presence.OFFLINE, "Offline", "asa", "1001", DOMAIN))
    assert headers["status"] == "Unregistered"


def test_a_busy_lamp_is_one_confirmed_dialog_of_ours_an_idle_one_no_dialog() -> None:
    busy = dict(lamp_headers(True, "asa", "1001", DOMAIN, why="focus"))
    assert busy["event_type"] == busy["alt_event_type"] == "dialog"
    assert busy["unique-id"] == "tel-lamp-asa"
    assert busy["answer-state"] == "confirmed"
    assert busy["Caller-Destination-Number"] == "focus"
    idle = dict(lamp_headers(False, "asa", "1001", DOMAIN, call_id="abc@1.2.3.4"))
    assert "unique-id" not in idle and "answer-state" not in idle
    assert idle["call-id"] == "abc@1.2.3.4"
    assert idle["from"] == "1001@fund-demo"


async def test_publish_sends_the_pidf_and_lights_the_lamp_once(site: Site) -> None:
    client = FakeClient()
    pub = publisher(site, client)
    await pub.publish("asa", Presence.FOCUS, "Focus until 14:00")
    assert [(s["event_type"], s.get("answer-state")) for s in client.to("1001")] == [
        ("dialog", "confirmed"), ("presence", None)]
    client.sent.clear()
    await pub.publish("asa", Presence.FOCUS, "Focus until 15:00")  # a new end time
    assert [(s["event_type"], s["status"]) for s in client.sent] == [
        ("presence", "Focus until 15:00")]
    client.sent.clear()
    await pub.publish("asa", Presence.AVAILABLE, "Available")
    assert [(s["event_type"], s.get("unique-id")) for s in client.to("1001")] == [
        ("dialog", None), ("presence", None)]


async def test_ringing_and_calls_leave_the_lamp_to_the_devices(site: Site) -> None:
    client = FakeClient()
    pub = publisher(site, client)
    await pub.publish("asa", Presence.ON_CALL, "On a call")
    assert [s["event_type"] for s in client.sent] == ["presence"]
    assert client.sent[0]["rpid"] == "on-the-phone"


async def test_an_idle_publication_never_puts_out_a_lamp_a_device_lit(site: Site) -> None:
    client = FakeClient()
    pub = publisher(site, client)
    await client.feed(leg("u1", "1001@fund-demo", "RINGING"))
    await pub.publish("asa", Presence.AVAILABLE, "Available")  # the engine is behind
    assert [s["event_type"] for s in client.to("1001")] == ["presence"]


async def test_after_a_device_call_the_focus_lamp_is_lit_again(site: Site) -> None:
    client = FakeClient()
    pub = publisher(site, client)
    await pub.publish("asa", Presence.FOCUS, "Focus")
    await client.feed(leg("u1", "1001@fund-demo", "ACTIVE", answer="answered"))
    await client.feed(leg("u1", "1001@fund-demo", "HANGUP", channel_state="CS_HANGUP",
                          answer="hangup"))
    client.sent.clear()
    await pub.publish("asa", Presence.FOCUS, "Focus")  # the device's hangup put it out
    assert [(s["event_type"], s.get("answer-state")) for s in client.sent] == [
        ("dialog", "confirmed"), ("presence", None)]


async def test_a_lost_connection_is_unavailable_and_unknown_agents_refused(site: Site) -> None:
    client = FakeClient()
    pub = publisher(site, client)
    client.down = True
    with pytest.raises(PbxUnavailable):
        await pub.publish("asa", Presence.AWAY, "Away: lunch")
    with pytest.raises(Exception, match="not an agent"):
        await pub.publish("nobody", Presence.AWAY, "Away")


async def test_after_a_reconnect_the_next_publication_sets_the_lamp_again(site: Site) -> None:
    client = FakeClient()
    pub = publisher(site, client)
    await pub.publish("asa", Presence.AVAILABLE, "Available")
    await client.feed(Reconnected(1))
    client.sent.clear()
    await pub.publish("asa", Presence.AVAILABLE, "Available")
    assert [s["event_type"] for s in client.to("1001")] == ["dialog", "presence"]


# -- new watchers and FreeSWITCH's own words


async def test_a_new_watcher_gets_the_last_publication_alone(site: Site) -> None:
    client = FakeClient()
    pub = publisher(site, client)
    await pub.publish("asa", Presence.AWAY, "Away: lunch")
    client.sent.clear()
    await client.feed(event("PRESENCE_PROBE", ("proto", "sip"), ("from", "bjorn-soft@fund-demo"),
                            ("to", "1001@fund-demo"), ("sub-call-id", "c1"),
                            ("presence-source", "subscribe")))
    await client.feed(event("PRESENCE_PROBE", ("probe-type", "dialog"), ("proto", "sip"),
                            ("to", "1001@fund-demo"), ("sub-call-id", "c2")))
    assert [(s["call-id"], s["event_type"], s.get("status"), s.get("answer-state"))
            for s in client.sent] == [
        ("c1", "presence", "Away: lunch", None), ("c2", "dialog", None, "confirmed")]


async def test_a_new_lamp_watcher_sees_a_ringing_device(site: Site) -> None:
    client = FakeClient()
    publisher(site, client)
    await client.feed(leg("u1", "1001@fund-demo", "RINGING"))
    await client.feed(event("PRESENCE_PROBE", ("probe-type", "dialog"),
                            ("to", "1001@fund-demo"), ("sub-call-id", "c2")))
    [sent] = client.sent
    assert (sent["unique-id"], sent["answer-state"], sent["call-id"]) == ("u1", "early", "c2")


async def test_probes_of_other_users_are_left_to_freeswitch(site: Site) -> None:
    client = FakeClient()
    pub = publisher(site, client)
    await pub.publish("asa", Presence.AWAY, "Away")
    client.sent.clear()
    await client.feed(event("PRESENCE_PROBE", ("to", "asa-soft@fund-demo"), ("sub-call-id", "c")))
    await client.feed(event("PRESENCE_PROBE", ("to", "1001@elsewhere"), ("sub-call-id", "c")))
    assert client.sent == []


async def test_freeswitchs_own_word_on_an_extension_is_followed_by_ours(site: Site) -> None:
    client = FakeClient()
    pub = publisher(site, client)
    await pub.publish("asa", Presence.FOCUS, "Focus until 14:00")
    client.sent.clear()
    await client.feed(event("PRESENCE_IN", ("proto", "sip"), ("from", "1001@fund-demo"),
                            ("status", "Unregistered")))
    assert [(s["event_type"], s.get("status")) for s in client.sent] == [
        ("dialog", None), ("presence", "Focus until 14:00")]
    client.sent.clear()
    # Our own events coming back, and device registrations, are not.
    await client.feed(event("PRESENCE_IN", ("from", "1001@fund-demo"), (MARK, "asa")))
    await client.feed(event("PRESENCE_IN", ("from", "asa-soft@fund-demo"),
                            ("status", "Registered")))
    assert client.sent == []


# -- what the devices do


def test_a_device_rung_rings_and_a_call_it_makes_is_a_call_at_once() -> None:
    assert leg_state("RINGING", "outbound") is MemberState.RINGING
    assert leg_state("EARLY", "outbound") is MemberState.RINGING
    assert leg_state("RINGING", "inbound") is MemberState.ON_CALL
    assert leg_state("ACTIVE", "outbound") is MemberState.ON_CALL
    assert leg_state("HELD", "inbound") is MemberState.ON_CALL
    assert leg_state("HANGUP", "outbound") is None


def test_the_busiest_device_wins_and_hangups_free_the_agent(site: Site) -> None:
    phones = Phones(site)
    assert phones.heard(leg("u1", "1001@fund-demo", "RINGING")) == "asa"
    assert phones.heard(leg("u2", "1001@fund-demo", "RINGING")) is None  # no change
    assert phones.heard(leg("u2", "1001@fund-demo", "ACTIVE")) == "asa"
    assert phones.state("asa") is MemberState.ON_CALL
    assert phones.heard(leg("u1", "1001@fund-demo", "HANGUP", channel_state="CS_HANGUP")) is None
    assert phones.heard(leg("u2", "1001@fund-demo", "ACTIVE", channel_state="CS_HANGUP")) == "asa"
    assert phones.state("asa") is None


def test_only_channel_events_of_agents_count(site: Site) -> None:
    phones = Phones(site)
    # mod_sofia's own answer about a dialog: no channel data.
    assert phones.heard(event("PRESENCE_IN", ("from", "1001@fund-demo"), ("unique-id", "u"),
                              ("answer-state", "confirmed"))) is None
    assert phones.heard(leg("u1", "9999@fund-demo", "RINGING")) is None
    assert phones.heard(leg("u1", "1001@other", "RINGING")) is None
    # A leg from before the re-render names the device.
    assert phones.heard(leg("u1", "asa-desk@fund-demo", "RINGING")) == "asa"


def test_every_agent_is_listed_idle_unavailable_or_what_a_device_does(site: Site) -> None:
    phones = Phones(site)
    phones.heard(leg("u1", "1002@fund-demo", "ACTIVE"))
    assert phones.snapshot(frozenset({"asa", "bjorn"})) == {
        "asa": MemberState.IDLE, "bjorn": MemberState.ON_CALL, "chen": MemberState.UNAVAILABLE}
    assert phones.snapshot(None)["chen"] is MemberState.IDLE


def test_a_lagging_listing_brings_back_no_channel_that_hung_up(site: Site) -> None:
    phones = Phones(site)
    phones.heard(leg("u1", "1001@fund-demo", "ACTIVE"))
    phones.heard(leg("u1", "1001@fund-demo", "ACTIVE", channel_state="CS_HANGUP"))
    listing = json.dumps({"row_count": 2, "rows": [
        {"uuid": "u1", "presence_id": "1001@fund-demo", "callstate": "ACTIVE",
         "direction": "outbound"},
        {"uuid": "u2", "presence_id": "1003@fund-demo", "callstate": "RINGING",
         "direction": "outbound"},
    ]})
    assert phones.seed(show_channels_rows(listing)) == {"chen"}
    assert phones.state("asa") is None
    assert phones.state("chen") is MemberState.RINGING
    assert show_channels_rows("") == [] and show_channels_rows('{"row_count":0}') == []


async def test_phone_changes_reach_every_listener_until_it_stops(site: Site) -> None:
    client = FakeClient()
    pub = publisher(site, client)
    seen: list[Change] = []
    stop = pub.listen(seen.append)
    await client.feed(leg("u1", "1003@fund-demo", "RINGING"))
    stop()
    await client.feed(leg("u1", "1003@fund-demo", "ACTIVE"))
    assert seen == [Change(ChangeKind.PHONE_STATE, agent="chen", state=MemberState.RINGING)]


async def test_the_first_read_lists_the_channels_and_a_full_one_checks_the_legs(
    site: Site,
) -> None:
    client = FakeClient()
    pub = publisher(site, client)
    client.answers["show channels"] = json.dumps({"rows": [
        {"uuid": "u9", "presence_id": "1001@fund-demo", "callstate": "ACTIVE",
         "direction": "inbound"}]})
    client.answers["uuid_exists"] = "true"
    phones = await pub.snapshot(frozenset({"asa"}), full=False)
    assert phones is not None and phones["asa"] is MemberState.ON_CALL
    phones = await pub.snapshot(frozenset({"asa"}), full=False)  # one queue: no check
    client.answers["uuid_exists"] = "false"
    phones = await pub.snapshot(frozenset({"asa"}), full=True)
    assert phones is not None and phones["asa"] is MemberState.IDLE
    assert client.apis == ["show channels as json", "uuid_exists u9", "uuid_exists u9"]


async def test_a_call_the_lagging_listing_shows_after_it_ended_is_not_taken(
    site: Site,
) -> None:
    client = FakeClient()
    pub = publisher(site, client)
    client.answers["show channels"] = json.dumps({"rows": [
        {"uuid": "u8", "presence_id": "1001@fund-demo", "callstate": "RINGING",
         "direction": "outbound"}]})
    client.answers["uuid_exists"] = "false"
    phones = await pub.snapshot(None, full=False)
    assert phones is not None and phones["asa"] is MemberState.IDLE


async def test_a_connection_without_presence_events_cannot_tell(site: Site) -> None:
    client = FakeClient(events=("CHANNEL_ANSWER",))
    pub = publisher(site, client)
    assert await pub.snapshot(None, full=True) is None
    await pub.publish("asa", Presence.FOCUS, "Focus")  # sending needs no events
    assert len(client.to("1001")) == 2


# -- phone keys


async def test_the_keys_light_as_the_published_state_shows_duty_and_focus(site: Site) -> None:
    client = FakeClient()
    pub = publisher(site, client)
    await pub.publish("asa", Presence.ON_DUTY, "On duty until 10:00")
    assert [(s.get("answer-state"), s.get("unique-id")) for s in client.to("*501001")] == [
        ("confirmed", "tel-duty-asa")]
    assert [s.get("answer-state") for s in client.to("*511001")] == [None]  # put out
    client.sent.clear()
    await pub.publish("asa", Presence.ON_CALL, "On a call")  # hides both: left alone
    await pub.publish("asa", Presence.ON_DUTY, "On duty until 10:00")  # as they are
    assert client.to("*501001") == [] and client.to("*511001") == []
    await pub.publish("asa", Presence.FOCUS, "Focus")
    assert [s.get("answer-state") for s in client.to("*501001")] == [None]
    assert [s.get("answer-state") for s in client.to("*511001")] == ["confirmed"]


async def test_a_new_key_watcher_gets_the_keys_lamp(site: Site) -> None:
    client = FakeClient()
    pub = publisher(site, client)
    await pub.key_lamp("asa", "focus", True)
    client.sent.clear()
    await client.feed(event("PRESENCE_PROBE", ("probe-type", "dialog"),
                            ("to", "*511001@fund-demo"), ("sub-call-id", "k1")))
    [sent] = client.sent
    assert (sent["from"], sent["call-id"], sent["answer-state"]) == (
        "*511001@fund-demo", "k1", "confirmed")


# -- after a restart


async def test_once_the_profile_runs_again_everything_last_published_is_shown(
    site: Site,
) -> None:
    client = FakeClient()
    pub = publisher(site, client)
    await pub.publish("asa", Presence.FOCUS, "Focus until 14:00")
    await pub.publish("bjorn", Presence.AVAILABLE, "Available")
    await client.feed(Reconnected(1))  # FreeSWITCH is back, mod_sofia not yet
    client.sent.clear()
    start = Event("CUSTOM", "sofia::profile_start",
                  ("Event-Name", "Event-Subclass", "profile_name"),
                  ("CUSTOM", "sofia::profile_start", "telephony"), None, EventFormat.PLAIN)
    await client.feed(start)
    assert [(s["event_type"], s.get("answer-state")) for s in client.to("1001")] == [
        ("dialog", "confirmed"), ("presence", None)]
    assert [s["event_type"] for s in client.to("1002")] == ["dialog", "presence"]
    assert [s.get("answer-state") for s in client.to("*511001")] == ["confirmed"]


async def test_a_reconnect_to_a_running_profile_shows_it_all_at_once(site: Site) -> None:
    client = FakeClient()
    pub = publisher(site, client)
    await pub.publish("asa", Presence.AWAY, "Away: lunch")
    client.answers["sofia xmlstatus"] = "<profile>...</profile>"
    client.sent.clear()
    await client.feed(Reconnected(1))
    assert [(s["event_type"], s.get("status")) for s in client.to("1001")] == [
        ("dialog", None), ("presence", "Away: lunch")]


async def test_the_lamp_goes_first_and_the_note_and_keys_after_it(site: Site) -> None:
    client = FakeClient()
    pub = PresencePublisher(client, site)  # type: ignore[arg-type]
    pub.rest_after = 0.05
    await pub.publish("asa", Presence.FOCUS, "Focus until 14:00")
    assert [s["event_type"] for s in client.sent] == ["dialog"]  # the lamp alone
    async with asyncio.timeout(2):
        while not any(s["event_type"] == "presence" for s in client.sent):
            await asyncio.sleep(0.01)
    assert client.sent[1]["status"] == "Focus until 14:00"
    await pub.close()


async def test_a_newer_publication_replaces_a_note_not_yet_sent(site: Site) -> None:
    client = FakeClient()
    pub = PresencePublisher(client, site)  # type: ignore[arg-type]
    pub.rest_after = 0.05
    await pub.publish("asa", Presence.FOCUS, "Focus until 14:00")
    await pub.publish("asa", Presence.AVAILABLE, "Available")
    await asyncio.sleep(0.2)
    assert [s["status"] for s in client.sent if s["event_type"] == "presence"] == ["Available"]
    await pub.close()
