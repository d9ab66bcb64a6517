"""How the subscriber kit reads NOTIFY bodies (PIDF, dialog-info, RFC 4662 lists) and
SIPp's trace of many SUBSCRIBE dialogs in one process (no PBX needed)."""

from __future__ import annotations

import pytest

from telephony.testing.sipp import render_scenario
from telephony.testing.subscriber import (
    BodyError,
    EventPackage,
    Notify,
    Subscriber,
    _call_number,
    _Dialogs,
    parse_dialog_info,
    parse_pidf,
    parse_resource_list,
)
from telephony.testing.trace import Direction, SipMessage

# As Asterisk 22 sends them (res_pjsip_dialog_info_body_generator).
DIALOG_IDLE = """<?xml version="1.0" encoding="UTF-8"?>
<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="0" state="full"
  entity="sip:1001@127.0.0.1:5060">
 <dialog id="1001"><state>terminated</state></dialog>
</dialog-info>
"""
DIALOG_RINGING = """<?xml version="1.0" encoding="UTF-8"?>
<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="3" state="full"
  entity="sip:1001@127.0.0.1:5060">
 <dialog id="1001" direction="recipient">
  <state>early</state>
  <remote><identity display="Caller">sip:+46701234567@127.0.0.1</identity>
   <target uri="sip:+46701234567@127.0.0.1"/></remote>
  <local><identity display="1001">sip:1001@127.0.0.1</identity></local>
 </dialog>
</dialog-info>
"""
DIALOG_BUSY = DIALOG_IDLE.replace("terminated", "confirmed").replace('version="0"', 'version="4"')

# FreeSWITCH-style: prefixed namespace, no dialog when idle.
DIALOG_NONE = """<?xml version="1.0"?>
<d:dialog-info xmlns:d="urn:ietf:params:xml:ns:dialog-info" version="7" state="partial"
 entity="sip:1001@example.org"/>
"""

PIDF_ASTERISK = """<?xml version="1.0" encoding="UTF-8"?>
<presence entity="sip:1001@127.0.0.1:5060" xmlns="urn:ietf:params:xml:ns:pidf"
 xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid">
 <note>On the phone</note>
 <dm:person><rpid:activities><rpid:on-the-phone/></rpid:activities></dm:person>
 <tuple id="1001"><status><basic>open</basic></status>
  <contact priority="1">sip:1001@127.0.0.1:5060</contact></tuple>
 <tuple id="digium-presence"><status>
  <digium_presence type="dnd" subtype="">Focus until 14:00</digium_presence></status></tuple>
</presence>
"""
PIDF_FREESWITCH = """<?xml version="1.0" encoding="ISO-8859-1"?>
<presence xmlns='urn:ietf:params:xml:ns:pidf' xmlns:dm='urn:ietf:params:xml:ns:pidf:data-model'
 xmlns:rpid='urn:ietf:params:xml:ns:pidf:rpid' entity='sip:1001@10.0.0.1'>
 <tuple id='t6a5ed77e'><status><basic>closed</basic></status></tuple>
 <dm:person id='p06360c4a'><rpid:activities><rpid:away/></rpid:activities>
  <dm:note>Away: lunch</dm:note></dm:person>
</presence>
"""


def test_dialog_info_reads_as_a_lamp() -> None:
    idle = parse_dialog_info(DIALOG_IDLE)
    assert (idle.entity, idle.version, idle.full) == ("sip:1001@127.0.0.1:5060", 0, True)
    assert idle.idle and not idle.busy and not idle.ringing
    ringing = parse_dialog_info(DIALOG_RINGING)
    assert ringing.state == "early" and ringing.ringing and not ringing.busy
    assert ringing.dialogs[0].remote == "sip:+46701234567@127.0.0.1"
    busy = parse_dialog_info(DIALOG_BUSY)
    assert busy.busy and busy.version == 4
    none = parse_dialog_info(DIALOG_NONE)
    assert none.idle and not none.full and none.dialogs == ()


def test_the_busiest_dialog_is_the_lamp() -> None:
    both = DIALOG_RINGING.replace(
        "</dialog-info>", '<dialog id="x"><state>confirmed</state></dialog></dialog-info>'
    )
    assert parse_dialog_info(both).state == "confirmed"


def test_pidf_gives_basic_notes_activities_and_vendor_presence() -> None:
    pidf = parse_pidf(PIDF_ASTERISK)
    assert pidf.open and pidf.note == "On the phone"
    assert pidf.activities == frozenset({"on-the-phone"})
    assert pidf.extras["digium_presence"] == "Focus until 14:00"
    assert pidf.extras["digium_presence.type"] == "dnd"
    fs = parse_pidf(PIDF_FREESWITCH)
    assert fs.basic == "closed" and not fs.open
    assert fs.notes == ("Away: lunch",) and fs.activities == frozenset({"away"})


@pytest.mark.parametrize("body", ["", "not xml", "<presence", DIALOG_IDLE])
def test_a_body_that_is_not_pidf_is_refused(body: str) -> None:
    with pytest.raises(BodyError):
        parse_pidf(body)


RLMI = """<?xml version="1.0" encoding="UTF-8"?>
<list xmlns="urn:ietf:params:xml:ns:rlmi" uri="sip:intake@127.0.0.1:5060" version="2"
 fullState="{full}">
 <name>Member line</name>
 <resource uri="sip:1001@127.0.0.1:5060"><name>1001</name>
  <instance id="a1" state="active" cid="a1@127.0.0.1"/></resource>
 <resource uri="sip:1002@127.0.0.1:5060"><name>1002</name>{second}</resource>
</list>
"""


def _multipart(full: bool, second: bool) -> tuple[str, str]:
    boundary = "223344"
    instance = '<instance id="b2" state="active" cid="b2@127.0.0.1"/>' if second else ""
    parts = [
        ("application/rlmi+xml", "<rlmi@127.0.0.1>",
         RLMI.format(full="true" if full else "false", second=instance)),
        ("application/dialog-info+xml", "<a1@127.0.0.1>", DIALOG_BUSY),
    ]
    if second:
        parts.append(("application/dialog-info+xml", "<b2@127.0.0.1>",
                      DIALOG_IDLE.replace("1001", "1002")))
    body = "".join(
        f"--{boundary}\r\nContent-Type: {ctype}\r\nContent-ID: {cid}\r\n\r\n{text}\r\n"
        for ctype, cid, text in parts
    ) + f"--{boundary}--\r\n"
    ctype = (f'multipart/related;type="application/rlmi+xml";'
             f'start="<rlmi@127.0.0.1>";boundary={boundary}')
    return ctype, body


def test_a_resource_list_notify_gives_each_member_its_body() -> None:
    ctype, body = _multipart(full=True, second=True)
    listed = parse_resource_list(ctype, body)
    assert listed.uri == "sip:intake@127.0.0.1:5060" and listed.full and listed.version == 2
    assert sorted(listed.resources) == ["1001", "1002"]
    first = listed["1001"].dialog
    assert first is not None and first.busy
    second = listed["1002"].dialog
    assert second is not None and second.idle and second.entity.startswith("sip:1002@")
    assert listed["1001"].presence is None


def test_notifies_merge_partial_lists_into_what_a_phone_shows() -> None:
    full_ctype, full_body = _multipart(full=True, second=True)
    part_ctype, part_body = _multipart(full=False, second=False)
    notify = Notify("1-2@h", 2, "dialog", part_ctype, "active", part_body, "")
    listed = notify.resources
    assert listed is not None and not listed.full
    # 1002 is listed without an instance: nothing new about it.
    assert listed["1002"].state == "" and listed["1002"].dialog is None
    assert Notify("1-2@h", 1, "dialog", full_ctype, "active", full_body, "").dialog is None


def _message(direction: Direction, start: str, call_id: str, cseq: str,
             headers: tuple[tuple[str, str], ...] = (), body: str = "") -> SipMessage:
    return SipMessage(direction, "2026-12-01 04:00:00.000001", start,
                      (("Call-ID", call_id), ("CSeq", cseq), *headers), body)


def test_a_notify_is_read_from_the_trace() -> None:
    message = _message(
        Direction.RECEIVED, "NOTIFY sip:bjorn-soft@127.0.0.1:40000 SIP/2.0", "3-77@127.0.0.1",
        "5 NOTIFY", (("Event", "dialog"), ("Subscription-State", "terminated;reason=timeout"),
                     ("Content-Type", "application/dialog-info+xml")), DIALOG_BUSY,
    )
    notify = Notify.from_message(message)
    assert (notify.event, notify.cseq, notify.terminated) == ("dialog", 5, True)
    assert notify.dialog is not None and notify.dialog.busy and notify.presence is None
    assert _call_number(notify.call_id) == 3
    assert _call_number("abc@host") is None


def test_the_scenario_asks_for_a_list_only_when_told() -> None:
    values = {"USER": "bjorn-soft", "EVENT": "dialog", "EXPIRES": "600", "USER_AGENT": "t",
              "ACCEPT": "application/dialog-info+xml", "SUPPORTED": ""}
    plain = render_scenario("subscriber.xml", values)
    assert "eventlist" not in plain and "\n\n      Expires" not in plain
    listed = render_scenario("subscriber.xml", {**values, "SUPPORTED": "Supported: eventlist"})
    assert listed.count("Supported: eventlist") == 4


class _Trace:
    """A SIPp process as the subscriber reads it: a growing trace."""

    def __init__(self) -> None:
        self.traced: list[SipMessage] = []

    def messages(self) -> list[SipMessage]:
        return list(self.traced)


def _notify(call_id: str, cseq: int, branch: str, body: str) -> SipMessage:
    return _message(
        Direction.RECEIVED, "NOTIFY sip:bjorn-soft@127.0.0.1:40000 SIP/2.0", call_id,
        f"{cseq} NOTIFY", (("Via", f"SIP/2.0/UDP 127.0.0.1:5060;rport;branch={branch}"),
                           ("Event", "dialog"), ("Subscription-State", "active;expires=600"),
                           ("Content-Type", "application/dialog-info+xml")), body,
    )


def test_many_dialogs_in_one_process_each_get_their_own_notifies() -> None:
    trace = _Trace()
    dialogs = _Dialogs(trace)  # type: ignore[arg-type]
    first = Subscriber("bjorn-soft", "1001", EventPackage.DIALOG, False, dialogs, 1)
    second = Subscriber("bjorn-soft", "1001", EventPackage.DIALOG, False, dialogs, 2)
    for number in (2, 1):  # sent in any order: the call number says whose it is
        trace.traced.append(_message(
            Direction.SENT, "SUBSCRIBE sip:1001@127.0.0.1:5060 SIP/2.0",
            f"{number}-4242@127.0.0.1", "1 SUBSCRIBE"))
    trace.traced += [
        _notify("1-4242@127.0.0.1", 10, "a", DIALOG_IDLE),
        _notify("2-4242@127.0.0.1", 20, "b", DIALOG_IDLE),
        _notify("1-4242@127.0.0.1", 10, "a", DIALOG_IDLE),  # a retransmission
        _notify("1-4242@127.0.0.1", 11, "c", DIALOG_BUSY),
    ]
    assert first.call_id == "1-4242@127.0.0.1" and second.call_id == "2-4242@127.0.0.1"
    assert [n.cseq for n in first.notifies] == [10, 11]
    assert [n.cseq for n in second.notifies] == [20]
    mark = first.mark()
    # A PBX that restored the dialog after a restart may count its CSeq from the start.
    trace.traced.append(_notify("1-4242@127.0.0.1", 10, "d", DIALOG_IDLE))
    assert [n.dialog.state for n in first.notifies[mark:] if n.dialog] == ["terminated"]
    assert first.latest is not None and first.latest.dialog is not None
    assert first.latest.dialog.idle
