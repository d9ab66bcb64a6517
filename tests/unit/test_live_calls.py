"""Reading live calls from each PBX's channel lists (rows as the real PBXs gave them).

What the PBXs then do with a transfer is tests/pbx/test_transfers.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

from telephony.asterisk.transfer import Channel, device_of, legs
from telephony.config import Site, load_site
from telephony.freeswitch.esl import EslClient
from telephony.freeswitch.transfer import Reader
from telephony.port import LiveCall

SITE: Site = load_site(Path(__file__).resolve().parents[1] / "pbx" / "site.yaml", {})


def ast(name: str, bridge: str, number: str, app: str = "AppDial", data: str = "") -> Channel:
    return Channel(name, bridge, number, app, data)


# -- Asterisk (CoreShowChannels)


def test_a_pjsip_channel_names_its_device() -> None:
    assert device_of("PJSIP/asa-soft-00000001") == "asa-soft"
    assert device_of("Local/1001@tel-member-00000002;1") is None


def test_an_answered_direct_call_is_the_agents_with_the_callers_number() -> None:
    channels = [
        ast("PJSIP/asa-soft-00000001", "b1", "1001", "AppDial", "(Outgoing Line)"),
        ast("PJSIP/pstn-00000000", "b1", "+46701238001", "Dial", "PJSIP/asa-soft&PJSIP/asa-desk,10"),
    ]
    [leg] = legs(SITE, channels)
    assert leg.call == LiveCall("PJSIP/pstn-00000000", "asa", "+46701238001", "")
    assert leg.agent_channel == "PJSIP/asa-soft-00000001"


def test_a_queue_call_names_the_queue_the_caller_waits_in() -> None:
    channels = [
        ast("PJSIP/dana-soft-00000003", "b2", "1004", "AppQueue", "(Outgoing Line)"),
        ast("PJSIP/pstn-00000002", "b2", "+46701238002", "Queue", "rota,r,,,20"),
    ]
    [leg] = legs(SITE, channels)
    assert leg.call.queue == "rota"


def test_the_other_party_is_found_through_a_local_channel_pair() -> None:
    # Åsa has two devices: app_queue rings her through Local/1001@tel-member.
    channels = [
        ast("PJSIP/pstn-00000004", "b3", "+46701238010", "Queue", "rota,r,,,20"),
        ast("Local/1001@tel-member-00000001;1", "b3", "+46701238010", "AppQueue"),
        ast("Local/1001@tel-member-00000001;2", "b4", "+46701238010", "Dial"),
        ast("PJSIP/asa-soft-00000005", "b4", "1001", "AppDial"),
    ]
    [leg] = legs(SITE, channels)
    assert leg.call == LiveCall("PJSIP/pstn-00000004", "asa", "+46701238010", "rota")


def test_a_call_between_two_agents_is_listed_for_each() -> None:
    channels = [
        ast("PJSIP/asa-soft-00000005", "b5", "1001", "AppDial"),
        ast("PJSIP/bjorn-soft-00000004", "b5", "1002", "Dial"),
    ]
    assert [(leg.call.agent, leg.call.peer) for leg in legs(SITE, channels)] == [
        ("asa", "1002"), ("bjorn", "1001"),
    ]


def test_a_ringing_or_lone_agent_channel_is_no_call() -> None:
    channels = [
        ast("PJSIP/asa-soft-00000006", "", "1001"),  # ringing: in no bridge yet
        ast("PJSIP/bjorn-soft-00000007", "b6", "1002"),  # alone in a bridge
        ast("PJSIP/pstn-00000008", "b7", "+46701238001", "Queue", "rota"),  # no agent
    ]
    assert legs(SITE, channels) == []


def test_a_local_pair_whose_far_end_still_dials_is_no_call_yet() -> None:
    channels = [
        ast("PJSIP/asa-soft-00000009", "b8", "1001"),
        ast("Local/1002@tel-from-internal-00000003;1", "b8", "1001"),
        ast("Local/1002@tel-from-internal-00000003;2", "", "1001", "Dial"),
    ]
    assert legs(SITE, channels) == []


# -- FreeSWITCH (show channels, show calls, uuid_getvar)


class FakeEsl:
    """Answers api commands from canned text, as FreeSWITCH 1.10.12 did."""

    def __init__(self, channels: list[dict[str, str]], pairs: list[tuple[str, str]],
                 variables: dict[tuple[str, str], str]) -> None:
        self.channels = channels
        self.pairs = pairs
        self.variables = variables

    async def api(self, command: str, *, timeout: float | None = None, check: bool = True) -> str:
        if command == "show channels as json":
            return json.dumps({"row_count": len(self.channels), "rows": self.channels})
        if command == "show calls as json":
            rows = [{"uuid": a, "b_uuid": b} for a, b in self.pairs]
            return json.dumps({"row_count": len(rows), "rows": rows} if rows else {"row_count": 0})
        verb, uuid, name = command.split(" ")
        assert verb == "uuid_getvar"
        return self.variables.get((uuid, name), "_undef_")


def fs(uuid: str, direction: str, name: str, number: str, dest: str, *, app: str = "",
       presence: str = "", context: str = "tel-from-trunk") -> dict[str, str]:
    return {"uuid": uuid, "direction": direction, "name": name, "cid_num": number,
            "initial_cid_num": number, "dest": dest, "initial_dest": dest,
            "application": app, "presence_id": presence, "initial_context": context}


CALLER = fs("c1", "inbound", "sofia/telephony/+46701238001@127.0.0.2", "+46701238001",
            "+46855501001", app="bridge", presence="+46701238001@127.0.0.2")
ASA_LEG = fs("a1", "outbound", "sofia/telephony/asa-soft@127.0.0.1:40778", "+46701238001",
             "asa-soft", presence="asa-soft@test-site")


async def read(esl: FakeEsl) -> list[LiveCall]:
    return [leg.call for leg in await Reader(cast(EslClient, esl), SITE).legs()]


async def test_a_leg_dialled_to_a_device_is_the_agents_call_with_the_caller() -> None:
    esl = FakeEsl([CALLER, ASA_LEG], [("c1", "a1")], {})
    assert await read(esl) == [LiveCall("c1", "asa", "+46701238001", "")]


async def test_a_callcenter_call_names_the_queue_from_cc_queue() -> None:
    caller = fs("c2", "inbound", "sofia/telephony/+46701238002@127.0.0.2", "+46701238002",
                "2001", app="uuid_bridge")
    dana = fs("d2", "outbound", "sofia/telephony/dana-soft@127.0.0.1:55910", "+46701238002",
              "dana-soft", app="uuid_bridge", presence="dana-soft@test-site", context="default")
    esl = FakeEsl([caller, dana], [("c2", "d2")], {("c2", "cc_queue"): "rota"})
    assert await read(esl) == [LiveCall("c2", "dana", "+46701238002", "rota")]


async def test_a_device_on_another_domain_or_a_trunk_leg_is_nobodys() -> None:
    stranger = fs("a3", "outbound", "sofia/telephony/asa-soft@10.0.0.9", "x", "asa-soft",
                  presence="asa-soft@elsewhere")
    spoofed = fs("c3", "inbound", "sofia/telephony/asa-soft@127.0.0.2", "asa-soft", "1002",
                 presence="asa-soft@127.0.0.2")  # a trunk caller naming itself asa-soft
    esl = FakeEsl([stranger, spoofed], [("c3", "a3")], {})
    assert await read(esl) == []


async def test_a_call_our_phone_placed_is_the_agents_by_the_authenticated_user() -> None:
    bjorn = fs("b4", "inbound", "sofia/telephony/bjorn-soft@127.0.0.1", "bjorn-soft", "1001",
               app="bridge", presence="bjorn-soft@127.0.0.1", context="tel-from-internal")
    asa = fs("a4", "outbound", "sofia/telephony/asa-soft@127.0.0.1:59669", "1002", "asa-soft",
             presence="asa-soft@test-site", context="tel-from-internal")
    esl = FakeEsl([bjorn, asa], [("b4", "a4")], {("b4", "user_name"): "bjorn-soft"})
    # A colleague is shown by extension, as Asterisk shows them.
    assert await read(esl) == [LiveCall("b4", "asa", "1002"), LiveCall("a4", "bjorn", "1001")]


async def test_an_attended_transfers_loopback_legs_are_followed_to_the_target() -> None:
    asa = {**ASA_LEG, "application": "att_xfer"}
    loop_a = fs("la", "outbound", "loopback/1002-a", "1001", "1002", context="tel-from-internal")
    loop_b = fs("lb", "inbound", "loopback/1002-b", "1001", "1002", app="bridge",
                context="tel-from-internal")
    bjorn = fs("b5", "outbound", "sofia/telephony/bjorn-soft@127.0.0.1:33624", "1001",
               "bjorn-soft", presence="bjorn-soft@test-site", context="tel-from-internal")
    esl = FakeEsl(
        [CALLER, asa, loop_a, loop_b, bjorn], [("c1", "a1"), ("a1", "la"), ("lb", "b5")],
        {("la", "other_loopback_leg_uuid"): "lb", ("lb", "other_loopback_leg_uuid"): "la"},
    )
    assert await read(esl) == [LiveCall("b5", "asa", "1002"), LiveCall("a1", "bjorn", "1001")]


async def test_no_calls_is_an_empty_list() -> None:
    assert await read(FakeEsl([], [], {})) == []
