"""Specification of the sans-I/O AMI core and the typed events it feeds.

TRANSCRIPT is real bytes from Asterisk 22.10.1 (AMI 11.0.0): Login, QueueStatus,
DBGetTree, Command output, a queue call's events (caller name "Åsa Öberg").
"""

from __future__ import annotations

import random
from itertools import pairwise

import pytest

from telephony.asterisk.ami.errors import AmiActionError, InvalidAction, ProtocolError
from telephony.asterisk.ami.events import (
    AgentConnect,
    DBGetTreeResponse,
    Event,
    Greeting,
    Hangup,
    Message,
    MessageKind,
    PresenceStateChange,
    QueueCallerJoin,
    QueueMember,
    QueueMemberStatus,
    QueueParams,
    event_class,
    parse_event,
    parse_response,
)
from telephony.asterisk.ami.protocol import (
    NEED_DATA,
    Action,
    AmiProtocol,
    HeaderValue,
    encode_action,
)

TRANSCRIPT = (
    b"Asterisk Call Manager/11.0.0\r\n"
    b"Response: Success\r\n"
    b"ActionID: L1\r\n"
    b"Message: Authentication accepted\r\n"
    b"\r\n"
    b"Event: FullyBooted\r\n"
    b"Privilege: system,all\r\n"
    b"Uptime: 7\r\n"
    b"LastReload: 7\r\n"
    b"Status: Fully Booted\r\n"
    b"\r\n"
    b"Response: Success\r\n"
    b"ActionID: q1\r\n"
    b"EventList: start\r\n"
    b"Message: Queue status will follow\r\n"
    b"\r\n"
    b"Event: QueueParams\r\n"
    b"Queue: sales\r\n"
    b"Max: 0\r\n"
    b"Strategy: ringall\r\n"
    b"Calls: 0\r\n"
    b"Holdtime: 0\r\n"
    b"TalkTime: 0\r\n"
    b"Completed: 0\r\n"
    b"Abandoned: 0\r\n"
    b"ServiceLevel: 0\r\n"
    b"ServicelevelPerf: 0.0\r\n"
    b"ServicelevelPerf2: 0.0\r\n"
    b"Weight: 0\r\n"
    b"ActionID: q1\r\n"
    b"\r\n"
    b"Event: QueueMember\r\n"
    b"Queue: sales\r\n"
    b"Name: Carl\r\n"
    b"Location: Local/1003@agents\r\n"
    b"StateInterface: Local/1003@agents\r\n"
    b"Membership: static\r\n"
    b"Penalty: 0\r\n"
    b"CallsTaken: 0\r\n"
    b"LastCall: 0\r\n"
    b"LastPause: 0\r\n"
    b"LoginTime: 1795470687\r\n"
    b"InCall: 0\r\n"
    b"Status: 1\r\n"
    b"Paused: 0\r\n"
    b"PausedReason: \r\n"
    b"Wrapuptime: 0\r\n"
    b"ActionID: q1\r\n"
    b"\r\n"
    b"Event: QueueParams\r\n"
    b"Queue: intake\r\n"
    b"Max: 0\r\n"
    b"Strategy: rrmemory\r\n"
    b"Calls: 0\r\n"
    b"Holdtime: 0\r\n"
    b"TalkTime: 0\r\n"
    b"Completed: 0\r\n"
    b"Abandoned: 0\r\n"
    b"ServiceLevel: 0\r\n"
    b"ServicelevelPerf: 0.0\r\n"
    b"ServicelevelPerf2: 0.0\r\n"
    b"Weight: 0\r\n"
    b"ActionID: q1\r\n"
    b"\r\n"
    b"Event: QueueMember\r\n"
    b"Queue: intake\r\n"
    b"Name: \xc3\x85sa \xc3\x96berg\r\n"
    b"Location: Local/1001@agents\r\n"
    b"StateInterface: Custom:agent-1001\r\n"
    b"Membership: static\r\n"
    b"Penalty: 0\r\n"
    b"CallsTaken: 0\r\n"
    b"LastCall: 0\r\n"
    b"LastPause: 0\r\n"
    b"LoginTime: 1795470687\r\n"
    b"InCall: 0\r\n"
    b"Status: 0\r\n"
    b"Paused: 0\r\n"
    b"PausedReason: \r\n"
    b"Wrapuptime: 0\r\n"
    b"ActionID: q1\r\n"
    b"\r\n"
    b"Event: QueueMember\r\n"
    b"Queue: intake\r\n"
    b"Name: Bob\r\n"
    b"Location: Local/1002@agents\r\n"
    b"StateInterface: Custom:agent-1002\r\n"
    b"Membership: static\r\n"
    b"Penalty: 1\r\n"
    b"CallsTaken: 0\r\n"
    b"LastCall: 0\r\n"
    b"LastPause: 0\r\n"
    b"LoginTime: 1795470687\r\n"
    b"InCall: 0\r\n"
    b"Status: 0\r\n"
    b"Paused: 0\r\n"
    b"PausedReason: \r\n"
    b"Wrapuptime: 0\r\n"
    b"ActionID: q1\r\n"
    b"\r\n"
    b"Event: QueueStatusComplete\r\n"
    b"ActionID: q1\r\n"
    b"EventList: Complete\r\n"
    b"ListItems: 5\r\n"
    b"\r\n"
    b"Response: Success\r\n"
    b"ActionID: t1\r\n"
    b"EventList: start\r\n"
    b"Message: Result will follow\r\n"
    b"\r\n"
    b"Event: DBGetTreeResponse\r\n"
    b"Key: /telephony/agent/1001/presence\r\n"
    b"Val: available\r\n"
    b"ActionID: t1\r\n"
    b"\r\n"
    b"Event: DBGetTreeResponse\r\n"
    b"Key: /telephony/agent/1002/name\r\n"
    b"Val: \xc3\x85sa \xc3\x96berg\r\n"
    b"ActionID: t1\r\n"
    b"\r\n"
    b"Event: DBGetTreeComplete\r\n"
    b"ActionID: t1\r\n"
    b"EventList: Complete\r\n"
    b"ListItems: 2\r\n"
    b"\r\n"
    b"Response: Success\r\n"
    b"ActionID: c1\r\n"
    b"Message: Command output follows\r\n"
    b"Output: /telephony/agent/1001/presence                    : available                \r\n"
    b"Output: /telephony/agent/1002/name                        : \xc3\x85sa \xc3\x96berg              \r\n"
    b"Output: 2 results found.\r\n"
    b"\r\n"
    b"Response: Error\r\n"
    b"ActionID: c3\r\n"
    b"Message: Command output follows\r\n"
    b"Output: No such command 'no such command' (type 'core show help no such' for other "
    b"possible commands)\r\n"
    b"\r\n"
    b"Event: QueueCallerJoin\r\n"
    b"Privilege: agent,all\r\n"
    b"Channel: Local/3001@callers-00000000;2\r\n"
    b"ChannelState: 6\r\n"
    b"ChannelStateDesc: Up\r\n"
    b"CallerIDNum: +46701234567\r\n"
    b"CallerIDName: \xc3\x85sa \xc3\x96berg\r\n"
    b"ConnectedLineNum: +46701234567\r\n"
    b"ConnectedLineName: \xc3\x85sa \xc3\x96berg\r\n"
    b"Language: en\r\n"
    b"AccountCode: \r\n"
    b"Context: callers\r\n"
    b"Exten: 3001\r\n"
    b"Priority: 3\r\n"
    b"Uniqueid: 1795470784.1\r\n"
    b"Linkedid: 1795470784.0\r\n"
    b"Queue: intake\r\n"
    b"Position: 1\r\n"
    b"Count: 1\r\n"
    b"\r\n"
    b"Event: AgentConnect\r\n"
    b"Privilege: agent,all\r\n"
    b"Channel: Local/3001@callers-00000000;2\r\n"
    b"ChannelState: 6\r\n"
    b"ChannelStateDesc: Up\r\n"
    b"CallerIDNum: +46701234567\r\n"
    b"CallerIDName: \xc3\x85sa \xc3\x96berg\r\n"
    b"ConnectedLineNum: +46701234567\r\n"
    b"ConnectedLineName: \xc3\x85sa \xc3\x96berg\r\n"
    b"Language: en\r\n"
    b"AccountCode: \r\n"
    b"Context: callers\r\n"
    b"Exten: 3001\r\n"
    b"Priority: 3\r\n"
    b"Uniqueid: 1795470784.1\r\n"
    b"Linkedid: 1795470784.0\r\n"
    b"DestChannel: Local/1001@agents-00000001;1\r\n"
    b"DestChannelState: 6\r\n"
    b"DestChannelStateDesc: Up\r\n"
    b"DestCallerIDNum: +46701234567\r\n"
    b"DestCallerIDName: \xc3\x85sa \xc3\x96berg\r\n"
    b"DestConnectedLineNum: +46701234567\r\n"
    b"DestConnectedLineName: \xc3\x85sa \xc3\x96berg\r\n"
    b"DestLanguage: en\r\n"
    b"DestAccountCode: \r\n"
    b"DestContext: agents\r\n"
    b"DestExten: 3001\r\n"
    b"DestPriority: 1\r\n"
    b"DestUniqueid: 1795470784.2\r\n"
    b"DestLinkedid: 1795470784.0\r\n"
    b"Queue: intake\r\n"
    b"Interface: Local/1001@agents\r\n"
    b"MemberName: \xc3\x85sa \xc3\x96berg\r\n"
    b"HoldTime: 0\r\n"
    b"RingTime: 0\r\n"
    b"\r\n"
    b"Event: Hangup\r\n"
    b"Privilege: call,all\r\n"
    b"Channel: Local/1001@agents-00000001;1\r\n"
    b"ChannelState: 6\r\n"
    b"ChannelStateDesc: Up\r\n"
    b"CallerIDNum: +46701234567\r\n"
    b"CallerIDName: \xc3\x85sa \xc3\x96berg\r\n"
    b"ConnectedLineNum: +46701234567\r\n"
    b"ConnectedLineName: \xc3\x85sa \xc3\x96berg\r\n"
    b"Language: en\r\n"
    b"AccountCode: \r\n"
    b"Context: agents\r\n"
    b"Exten: 3001\r\n"
    b"Priority: 1\r\n"
    b"Uniqueid: 1795470784.2\r\n"
    b"Linkedid: 1795470784.0\r\n"
    b"Cause: 0\r\n"
    b"Cause-txt: Unknown\r\n"
    b"\r\n"
)


def parse_all(chunks: list[bytes], *, expect_greeting: bool = True) -> list[Message | Greeting]:
    proto = AmiProtocol(expect_greeting=expect_greeting)
    out: list[Message | Greeting] = []
    for chunk in chunks:
        proto.receive_data(chunk)
        while (item := proto.next_message()) is not NEED_DATA:
            out.append(item)
    assert proto.buffered == 0
    return out


EXPECTED = parse_all([TRANSCRIPT])


def frame(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_transcript_parses_into_greeting_and_every_frame() -> None:
    assert EXPECTED[0] == Greeting("Asterisk Call Manager", "11.0.0")
    assert len(EXPECTED) == 1 + TRANSCRIPT.count(b"\r\n\r\n")


def test_every_two_way_split_of_the_transcript_gives_the_same_frames() -> None:
    for cut in range(1, len(TRANSCRIPT)):
        assert parse_all([TRANSCRIPT[:cut], TRANSCRIPT[cut:]]) == EXPECTED, cut


def test_byte_at_a_time_feeding_gives_the_same_frames() -> None:
    assert parse_all([TRANSCRIPT[i : i + 1] for i in range(len(TRANSCRIPT))]) == EXPECTED


def test_random_chunkings_give_the_same_frames() -> None:
    rng = random.Random(11)
    for _ in range(300):
        cuts = sorted(rng.sample(range(1, len(TRANSCRIPT)), rng.randrange(1, 40)))
        bounds = [0, *cuts, len(TRANSCRIPT)]
        chunks = [TRANSCRIPT[a:b] for a, b in pairwise(bounds)]
        assert parse_all(chunks) == EXPECTED


def test_utf8_character_split_across_reads_is_kept() -> None:
    data = frame("Event: Newchannel", "CallerIDName: Åsa Öberg", "CallerIDNum: +46701234567")
    for cut in range(1, len(data)):
        (message,) = parse_all([data[:cut], data[cut:]], expect_greeting=False)
        assert isinstance(message, Message)
        assert message.get("CallerIDName") == "Åsa Öberg", cut


def test_invalid_utf8_is_replaced_not_dropped() -> None:
    (message,) = parse_all([b"Event: X\r\nName: a\xffb\r\n\r\n"], expect_greeting=False)
    assert isinstance(message, Message)
    assert message.get("Name") == "a\ufffdb"


def test_next_message_returns_need_data_until_the_frame_ends() -> None:
    proto = AmiProtocol(expect_greeting=False)
    proto.receive_data(b"Event: Ping\r\nFoo: bar\r\n")
    assert proto.next_message() is NEED_DATA
    proto.receive_data(b"\r\n")
    assert isinstance(proto.next_message(), Message)


def test_greeting_is_typed_with_product_and_version() -> None:
    proto = AmiProtocol()
    proto.receive_data(b"Asterisk Call Manager/11.0.0\r\n")
    assert proto.next_message() == Greeting("Asterisk Call Manager", "11.0.0")
    assert proto.greeting == Greeting("Asterisk Call Manager", "11.0.0")


def test_a_banner_that_is_not_ami_is_a_protocol_error() -> None:
    proto = AmiProtocol()
    proto.receive_data(b"SSH-2.0-OpenSSH_9.2\r\n")
    with pytest.raises(ProtocolError, match="not an AMI greeting"):
        proto.next_message()


def test_eof_inside_a_frame_is_a_protocol_error() -> None:
    proto = AmiProtocol(expect_greeting=False)
    proto.receive_data(b"Event: Hangup\r\nChannel: PJSIP/1")
    proto.receive_data(b"")
    with pytest.raises(ProtocolError, match="closed inside a frame"):
        proto.next_message()


def test_a_frame_larger_than_max_frame_is_a_protocol_error() -> None:
    proto = AmiProtocol(expect_greeting=False, max_frame=1000)
    proto.receive_data(b"Event: X\r\nBig: " + b"x" * 2000)
    with pytest.raises(ProtocolError, match="no frame end"):
        proto.next_message()


def test_repeated_headers_are_kept_in_order() -> None:
    (message,) = parse_all(
        [frame("Event: VarSet", "ChanVariable: A=1", "Other: x", "ChanVariable: B=2")],
        expect_greeting=False,
    )
    assert isinstance(message, Message)
    assert message.get_all("chanvariable") == ("A=1", "B=2")
    assert message.get("ChanVariable") == "A=1"


def test_headers_split_on_the_first_colon_space_only() -> None:
    (message,) = parse_all([frame("Event: X", "AppData: a: b: c")], expect_greeting=False)
    assert isinstance(message, Message)
    assert message.get("AppData") == "a: b: c"


def test_empty_header_value_reads_as_empty_string() -> None:
    (message,) = parse_all([frame("Event: QueueMember", "PausedReason: ")], expect_greeting=False)
    assert isinstance(message, Message)
    assert message.get("PausedReason") == ""


def test_a_line_without_colon_space_is_kept_and_reported_as_malformed() -> None:
    (message,) = parse_all([frame("Event: X", "garbage line", "Ok: 1")], expect_greeting=False)
    assert isinstance(message, Message)
    assert message.malformed_lines == ("garbage line",)
    assert message.headers == (("Event", "X"), ("garbage line", ""), ("Ok", "1"))


def test_stray_blank_lines_between_frames_are_ignored() -> None:
    data = frame("Event: A") + b"\r\n\r\n" + frame("Event: B") + b"\r\n"
    names = [m.name for m in parse_all([data], expect_greeting=False) if isinstance(m, Message)]
    assert names == ["A", "B"]


def test_get_is_case_insensitive() -> None:
    message = Message.from_headers(("Event", "X"), ("CallerIDNum", "100"))
    assert message.get("calleridnum") == "100"
    assert message.get("missing", "d") == "d"


def test_message_kind_comes_from_the_first_header() -> None:
    event = Message.from_headers(("Event", "OriginateResponse"), ("Response", "Success"))
    response = Message.from_headers(("Response", "Success"))
    assert (event.kind, response.kind) == (MessageKind.EVENT, MessageKind.RESPONSE)


# -- sending -----------------------------------------------------------------------


def test_action_is_serialised_with_action_and_action_id_first() -> None:
    action = Action.build("QueueStatus", "a1", {"Queue": "intake"})
    assert encode_action(action) == b"Action: QueueStatus\r\nActionID: a1\r\nQueue: intake\r\n\r\n"


def test_list_value_repeats_the_header_in_order() -> None:
    headers: dict[str, HeaderValue] = {"Variable": ["A=1", "B=2"], "Timeout": 3000}
    action = Action.build("Originate", "a2", headers)
    assert encode_action(action).split(b"\r\n")[2:5] == [
        b"Variable: A=1",
        b"Variable: B=2",
        b"Timeout: 3000",
    ]


def test_action_text_is_encoded_as_utf8() -> None:
    action = Action.build("Setvar", "a3", {"Value": "Åsa"})
    assert "Value: Åsa".encode() in encode_action(action)


@pytest.mark.parametrize("value", ["x\r\nAction: Originate", "x\nfoo", "x\r"])
def test_cr_or_lf_in_a_header_value_is_refused_naming_the_header(value: str) -> None:
    with pytest.raises(InvalidAction, match="'Queue'"):
        encode_action(Action.build("QueueStatus", "a4", {"Queue": value}))


def test_cr_or_lf_in_a_header_name_is_refused() -> None:
    with pytest.raises(InvalidAction, match="invalid header name"):
        encode_action(Action.build("Ping", "a5", [("X\r\nAction: Logoff", "1")]))


def test_cr_or_lf_in_the_action_id_is_refused() -> None:
    with pytest.raises(InvalidAction, match="'ActionID'"):
        encode_action(Action("Ping", "id\r\n"))


def test_headers_cannot_override_action_id() -> None:
    with pytest.raises(InvalidAction, match="set by the client"):
        encode_action(Action.build("Ping", "a6", {"ActionID": "other"}))


def test_send_queues_bytes_until_data_to_send_drains_them() -> None:
    proto = AmiProtocol()
    proto.send(Action("Ping", "p1"))
    proto.send(Action("Ping", "p2"))
    assert (
        proto.data_to_send()
        == b"Action: Ping\r\nActionID: p1\r\n\r\nAction: Ping\r\nActionID: p2\r\n\r\n"
    )
    assert proto.data_to_send() == b""


# -- typed views -----------------------------------------------------------------------


def by_name(name: str) -> list[Message]:
    return [m for m in EXPECTED if isinstance(m, Message) and m.name == name]


def test_command_response_output_lines_are_kept_in_order() -> None:
    response = parse_response(by_name("Success")[-1])
    assert response.message == "Command output follows"
    assert response.output[-1] == "2 results found."
    assert response.output[1].startswith("/telephony/agent/1002/name")
    assert "Åsa Öberg" in response.output[1]


def test_command_error_response_check_raises_with_output() -> None:
    response = parse_response(by_name("Error")[0])
    assert not response.success
    with pytest.raises(AmiActionError, match="No such command"):
        response.check("Command")


def test_queue_member_maps_name_and_location_to_member_fields() -> None:
    members = [parse_event(m) for m in by_name("QueueMember")]
    assert all(isinstance(m, QueueMember) for m in members)
    first = members[1]
    assert isinstance(first, QueueMember)
    assert (first.queue, first.member_name, first.interface) == (
        "intake",
        "Åsa Öberg",
        "Local/1001@agents",
    )
    assert (first.state_interface, first.status, first.paused, first.in_call) == (
        "Custom:agent-1001",
        0,
        False,
        False,
    )


def test_queue_params_numbers_are_ints() -> None:
    params = parse_event(by_name("QueueParams")[0])
    assert isinstance(params, QueueParams)
    assert (params.queue, params.strategy, params.calls) == ("sales", "ringall", 0)


def test_queue_member_status_fields_are_typed() -> None:
    event = parse_event(
        Message.from_headers(
            ("Event", "QueueMemberStatus"),
            ("Queue", "intake"),
            ("MemberName", "Bob"),
            ("Interface", "PJSIP/1002"),
            ("Penalty", "2"),
            ("CallsTaken", "7"),
            ("InCall", "1"),
            ("Status", "2"),
            ("Paused", "1"),
            ("PausedReason", "lunch"),
        )
    )
    assert isinstance(event, QueueMemberStatus)
    assert (event.penalty, event.calls_taken, event.in_call, event.status) == (2, 7, True, 2)
    assert (event.paused, event.paused_reason) == (True, "lunch")


def test_missing_numeric_header_reads_as_zero_and_raw_text_stays_reachable() -> None:
    event = parse_event(Message.from_headers(("Event", "QueueMemberStatus"), ("Penalty", "n/a")))
    assert isinstance(event, QueueMemberStatus)
    assert (event.penalty, event.calls_taken) == (0, 0)
    assert event.get("Penalty") == "n/a"


def test_queue_call_events_carry_channel_and_agent_fields() -> None:
    join = parse_event(by_name("QueueCallerJoin")[0])
    connect = parse_event(by_name("AgentConnect")[0])
    assert isinstance(join, QueueCallerJoin) and isinstance(connect, AgentConnect)
    assert (join.queue, join.position, join.caller_id_name) == ("intake", 1, "Åsa Öberg")
    assert connect.member_name == "Åsa Öberg"
    assert connect.dest_channel == "Local/1001@agents-00000001;1"
    assert connect.linkedid == join.linkedid == "1795470784.0"


def test_hangup_cause_is_an_int() -> None:
    hangup = parse_event(by_name("Hangup")[0])
    assert isinstance(hangup, Hangup)
    assert (hangup.cause, hangup.cause_txt) == (0, "Unknown")


def test_db_get_tree_response_key_is_the_full_path() -> None:
    entries = [parse_event(m) for m in by_name("DBGetTreeResponse")]
    assert [(e.key, e.val) for e in entries if isinstance(e, DBGetTreeResponse)] == [
        ("/telephony/agent/1001/presence", "available"),
        ("/telephony/agent/1002/name", "Åsa Öberg"),
    ]


def test_presence_state_change_message_is_a_typed_field() -> None:
    event = parse_event(
        Message.from_headers(
            ("Event", "PresenceStateChange"),
            ("Presentity", "CustomPresence:1001"),
            ("Status", "away"),
            ("Subtype", "Lunch"),
            ("Message", "Åsa ute"),
        )
    )
    assert isinstance(event, PresenceStateChange)
    assert (event.status, event.message) == ("away", "Åsa ute")


def test_unknown_event_names_fall_back_to_generic_event() -> None:
    event = parse_event(Message.from_headers(("Event", "SuccessfulAuth"), ("Service", "AMI")))
    assert type(event) is Event
    assert (event.name, event.get("service")) == ("SuccessfulAuth", "AMI")


@pytest.mark.parametrize(
    "name",
    [
        "QueueParams",
        "QueueMember",
        "QueueEntry",
        "QueueStatusComplete",
        "QueueMemberAdded",
        "QueueMemberRemoved",
        "QueueMemberPause",
        "QueueMemberStatus",
        "QueueCallerJoin",
        "QueueCallerLeave",
        "QueueCallerAbandon",
        "AgentCalled",
        "AgentConnect",
        "AgentComplete",
        "AgentRingNoAnswer",
        "Newchannel",
        "Newstate",
        "Hangup",
        "DialBegin",
        "DialEnd",
        "DeviceStateChange",
        "ExtensionStatus",
        "PresenceStateChange",
        "ContactStatus",
        "FullyBooted",
        "DBGetResponse",
        "DBGetTreeResponse",
    ],
)
def test_required_event_names_have_typed_classes(name: str) -> None:
    cls = event_class(name)
    assert cls is not Event and cls.__name__ == name
    assert isinstance(parse_event(Message.from_headers(("Event", name))), cls)


def test_typed_fields_match_header_names_case_insensitively() -> None:
    event = parse_event(Message.from_headers(("Event", "Hangup"), ("CAUSE", "16")))
    assert isinstance(event, Hangup)
    assert event.cause == 16


def test_a_malformed_line_does_not_break_typed_conversion() -> None:
    event = parse_event(Message(("Event: Hangup", "stray", "Cause: 17", "Cause: 99")))
    assert isinstance(event, Hangup)
    assert event.cause == 17  # the first of repeated headers wins
