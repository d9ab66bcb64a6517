"""Specification of the sans-I/O Event Socket core, against real FreeSWITCH 1.10.12 bytes.

Every transcript in ``esl_transcripts/`` is replayed through :class:`EslProtocol`
as recorded, one byte at a time, cut around every frame boundary, and in random
chunks (fixed seed); each way must give exactly the messages the naive reference
reader in ``esl_wire`` finds.
"""

from __future__ import annotations

import json
import random
from itertools import pairwise
from urllib.parse import quote

import pytest
from esl_wire import Frame, frames, load, names, plain_event_headers
from hypothesis import given
from hypothesis import strategies as st

from telephony.freeswitch.esl.errors import InvalidCommand, ProtocolError
from telephony.freeswitch.esl.messages import (
    ApiResponse,
    AuthRequest,
    CommandReply,
    DisconnectNotice,
    Event,
    EventFormat,
    LogData,
    Message,
    OtherMessage,
    RudeRejection,
    _decode_plain_slow,
    decode_plain_headers,
)
from telephony.freeswitch.esl.protocol import NEED_DATA, Command, EslProtocol, encode_command

TRANSCRIPTS = names()
SMALL = [n for n in TRANSCRIPTS if len(load(n).stream) < 10_000]


def expected(frame: Frame) -> Message:
    """What the core must make of one frame (built by hand from the README's rules)."""
    kind = frame.headers["Content-Type"]
    outer = tuple(frame.headers.items())
    text = frame.body.decode()
    if kind == "auth/request":
        return AuthRequest()
    if kind == "command/reply":
        return CommandReply(frame.headers["Reply-Text"], frame.headers.get("Job-UUID"), outer)
    if kind == "api/response":
        return ApiResponse(text)
    if kind == "log/data":
        return LogData(int(frame.headers["Log-Level"]), text, outer)
    if kind == "text/disconnect-notice":
        return DisconnectNotice(text, outer)
    if kind == "text/event-plain":
        pairs = plain_event_headers(frame.body)
        payload = None
        if pairs[-1][0] == "Content-Length":
            payload = frame.body.split(b"\n\n", 1)[1].decode()
        return _event(pairs, payload, EventFormat.PLAIN)
    if kind == "text/event-json":
        items = json.loads(frame.body, object_pairs_hook=list)
        pairs = [
            (k, v if isinstance(v, str) else "ARRAY::" + "|:".join(v))
            for k, v in items
            if k != "_body"
        ]
        return _event(pairs, dict(items).get("_body"), EventFormat.JSON)
    assert kind == "text/event-xml"
    return OtherMessage(kind, outer, frame.body)  # compared by name only, below


def _event(pairs: list[tuple[str, str]], payload: str | None, fmt: EventFormat) -> Event:
    fields = dict(pairs)
    name = fields["Event-Name"]
    subclass = fields.get("Event-Subclass") if name == "CUSTOM" else None
    return Event(
        name, subclass, tuple(n for n, _ in pairs), tuple(v for _, v in pairs), payload, fmt
    )


def feed(chunks: list[bytes], *, eof: bool = True) -> list[Message]:
    core = EslProtocol()
    out: list[Message] = []
    for chunk in chunks:
        core.receive_data(chunk)
        while (message := core.next_message()) is not NEED_DATA:
            assert not isinstance(message, type(NEED_DATA))
            out.append(message)
    if eof:
        core.receive_data(b"")
        assert core.next_message() is NEED_DATA
    return out


def cut(stream: bytes, points: list[int]) -> list[bytes]:
    edges = [0, *sorted(p for p in set(points) if 0 < p < len(stream)), len(stream)]
    return [stream[a:b] for a, b in pairwise(edges)]


def check(name: str, messages: list[Message]) -> None:
    want = [expected(f) for f in frames(load(name).stream)]
    assert len(messages) == len(want)
    for got, exp in zip(messages, want, strict=True):
        if isinstance(exp, OtherMessage):  # xml: the type and the name are checked here
            assert isinstance(got, Event) and got.format is EventFormat.XML
            assert got.name in exp.body.decode()
        else:
            assert got == exp


# -- replaying the transcripts ----------------------------------------------------------


@pytest.mark.parametrize("name", TRANSCRIPTS)
def test_transcript_as_recorded_gives_the_reference_messages(name: str) -> None:
    check(name, feed(list(load(name).recv)))


@pytest.mark.parametrize("name", TRANSCRIPTS)
def test_transcript_one_byte_at_a_time(name: str) -> None:
    stream = load(name).stream
    check(name, feed([stream[i : i + 1] for i in range(len(stream))]))


@pytest.mark.parametrize("name", SMALL)
def test_small_transcript_split_in_two_at_every_byte(name: str) -> None:
    stream = load(name).stream
    want = feed([stream])
    for i in range(1, len(stream)):
        assert feed([stream[:i], stream[i:]]) == want, f"split at byte {i}"


@pytest.mark.parametrize("name", TRANSCRIPTS)
@pytest.mark.parametrize("shift", range(-3, 4))
def test_transcript_cut_around_every_frame_boundary(name: str, shift: int) -> None:
    stream = load(name).stream
    ends = [f.end + shift for f in frames(stream)]
    heads = [f.body_start + shift for f in frames(stream)]  # right after the outer headers
    check(name, feed(cut(stream, ends)))
    check(name, feed(cut(stream, heads)))


@pytest.mark.parametrize("name", TRANSCRIPTS)
def test_transcript_in_random_chunks(name: str) -> None:
    stream = load(name).stream
    rng = random.Random(f"esl-{name}")
    for _ in range(10):
        points = [rng.randrange(len(stream)) for _ in range(rng.randrange(1, 200))]
        check(name, feed(cut(stream, points)))


def test_messages_returns_everything_buffered_in_order() -> None:
    core = EslProtocol()
    core.receive_data(load("03_bgapi").stream)
    assert core.messages() == feed([load("03_bgapi").stream])
    assert core.messages() == [] and core.buffered == 0


def test_recorded_reads_that_end_right_after_the_outer_headers_wait_for_the_body() -> None:
    transcript = load("04a_events_plain_call")
    split = [c for c in transcript.recv if c.endswith(b"Content-Type: text/event-plain\n\n")]
    assert split, "the recording has such reads"
    core = EslProtocol()
    waiting = False
    for chunk in transcript.recv:
        core.receive_data(chunk)
        got = core.messages()
        if waiting:  # the body came in this read: the event is whole now
            assert isinstance(got[0], Event)
        waiting = chunk in split
        if waiting:
            assert core.next_message() is NEED_DATA


# -- what the messages say ----------------------------------------------------------------


def events(name: str) -> list[Event]:
    return [m for m in feed(list(load(name).recv)) if isinstance(m, Event)]


def test_a_value_is_url_decoded_after_its_line_is_split() -> None:
    plain = events("10_misc_replies")[0]
    # "%41" is not re-encoded by FreeSWITCH, so plain is lossy here and JSON is not
    assert plain.get("Caller-Caller-ID-Name") == "Jörg Müller: 100% & co+1 50A"
    json_event = next(e for e in events("10_misc_replies") if e.format is EventFormat.JSON)
    assert json_event.get("Caller-Caller-ID-Name") == "Jörg Müller: 100% & co+1 50%41"


def test_an_encoded_newline_stays_inside_its_value() -> None:
    body = b"Event-Name: CUSTOM\nX-Evil: a%0AEvent-Name%3A%20FAKE\nEvent-Subclass: x%3A%3Ay\n\n"
    core = EslProtocol()
    core.receive_data(b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(body) + body)
    event = core.next_message()
    assert isinstance(event, Event)
    assert event.name == "CUSTOM" and event.key == "CUSTOM x::y"
    assert event.headers[1] == ("X-Evil", "a\nEvent-Name: FAKE")
    assert len(event.headers) == 3


def test_repeated_headers_are_all_kept_in_order() -> None:
    codecs = [e for e in events("04a_events_plain_call") if e.name == "CODEC"]
    assert [len(e.get_all("Channel-Write-Codec-Name")) for e in codecs] == [0, 2, 0, 2]
    custom = events("12_sendevent_custom")
    assert [e.get_all("X-Dup") for e in custom] == [("first", "second")] * 3


def test_an_array_header_reads_the_same_in_plain_json_and_xml() -> None:
    assert [e.get_array("X-Array") for e in events("12_sendevent_custom")] == [
        ("one", "two", "three")
    ] * 3


def test_plain_and_json_events_differ_only_where_plain_encoding_is_lossy() -> None:
    plain, as_json, as_xml = events("12_sendevent_custom")
    varying = {"Event-UUID", "Event-Date-Timestamp", "Event-Sequence"}
    p = [(n, v) for n, v in plain.headers if n not in varying]
    j = [(n, v) for n, v in as_json.headers if n not in varying]
    assert [x for x in p if x not in j] == [("X-Percent", "50A")]
    assert [x for x in j if x not in p] == [("X-Percent", "50%41")]
    assert plain.body == as_json.body == as_xml.body == "line one of the body\nline two: 100% done\n"
    assert plain.key == as_json.key == as_xml.key == "CUSTOM eslrec::test"


def test_a_background_job_carries_its_job_uuid_and_the_output_as_body() -> None:
    messages = feed(list(load("03_bgapi").recv))
    replies = [m for m in messages if isinstance(m, CommandReply) and m.job_uuid]
    jobs = [m for m in messages if isinstance(m, Event) and m.name == "BACKGROUND_JOB"]
    assert [r.job_uuid for r in replies] == [j.job_uuid for j in jobs]
    assert replies[1].job_uuid == "7f4db8a2-3c6e-4c1b-9a57-0e4d2b8c1f00"  # the client's own
    assert jobs[0].body is not None and jobs[0].body.startswith("UP 0 years")
    assert jobs[2].body == "-ERR nosuchcommand Command not found!\n"


def test_log_data_keeps_its_headers_and_an_empty_user_data() -> None:
    logs = [m for m in feed(list(load("08_log").recv)) if isinstance(m, LogData)]
    assert len(logs) == 52
    assert logs[0].level == 7 and logs[0].user_data == ""
    assert logs[0].text.endswith("Parsing global variables\n")


def test_the_disconnect_notice_of_a_myevents_session_says_disconnect() -> None:
    notice = feed(list(load("05b_myevents").recv))[-1]
    assert isinstance(notice, DisconnectNotice)
    assert notice.disposition == "disconnect"
    assert notice.text.startswith("Disconnected, goodbye.")


def test_api_errors_come_as_a_body() -> None:
    bodies = [m for m in feed(list(load("10_misc_replies").recv)) if isinstance(m, ApiResponse)]
    assert bodies[1] == ApiResponse("-ERR nosuchcmd Command not found!\n") and not bodies[1].ok
    assert bodies[0].ok and bodies[0].body.startswith("FreeSWITCH Version 1.10.12")


def test_a_rude_rejection_is_typed() -> None:
    core = EslProtocol()
    core.receive_data(b"Content-Type: text/rude-rejection\nContent-Length: 15\n\nAccess Denied.\n")
    assert core.next_message() == RudeRejection("Access Denied.\n")


def test_an_unknown_content_type_is_kept_not_fatal() -> None:
    core = EslProtocol()
    core.receive_data(b"Content-Type: text/future\nContent-Length: 2\n\nhi")
    assert core.next_message() == OtherMessage(
        "text/future", (("Content-Type", "text/future"), ("Content-Length", "2")), b"hi"
    )


# -- malformed input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"Content-Type: command/reply\nReply-Text +OK\n\n", "without ': '"),
        (b"Content-Type: api/response\nContent-Length: 12a\n\n", "not a number"),
        (b"Content-Type: api/response\nContent-Length: -1\n\n", "not a number"),
        (b"Content-Type: api/response\nContent-Length: +5\n\n", "not a number"),
        (b"Content-Length: 2\n\nhi", "without Content-Type"),
        (b"Content-Type: text/event-plain\nContent-Length: 10\n\nA: b\nC: d\n", "Event-Name"),
        (b"Content-Type: text/event-plain\nContent-Length: 12\n\nEvent-Name\n\n", "no ': '"),
        (b"Content-Type: text/event-json\nContent-Length: 2\n\n[]", "not a JSON object"),
        (b"Content-Type: text/event-json\nContent-Length: 2\n\n{x", "not JSON"),
        (b'Content-Type: text/event-json\nContent-Length: 8\n\n{"a": 1}', "not a string"),
        (
            b"Content-Type: text/event-plain\nContent-Length: 36\n\n"
            + b"Event-Name: X\nContent-Length: 99\n\nab",
            "Content-Length says 99",
        ),
    ],
)
def test_malformed_frames_are_protocol_errors_naming_the_fault(data: bytes, words: str) -> None:
    core = EslProtocol()
    core.receive_data(data)
    with pytest.raises(ProtocolError, match=words):
        core.messages()


def test_a_body_over_the_limit_is_refused_before_it_is_buffered() -> None:
    core = EslProtocol(max_body=100)
    core.receive_data(b"Content-Type: api/response\nContent-Length: 101\n\n")
    with pytest.raises(ProtocolError, match="over the limit"):
        core.next_message()


def test_headers_without_an_end_are_bounded() -> None:
    core = EslProtocol(max_header=1000)
    core.receive_data(b"Content-Type: x\n" + b"X: y\n" * 300)
    with pytest.raises(ProtocolError, match="no end of headers"):
        core.next_message()


def test_eof_inside_a_frame_is_an_error_and_eof_between_frames_is_not() -> None:
    core = EslProtocol()
    core.receive_data(b"Content-Type: auth/request\n\nContent-Type: api/resp")
    core.receive_data(b"")
    assert core.eof
    with pytest.raises(ProtocolError, match="closed inside a frame"):
        core.messages()
    clean = EslProtocol()
    clean.receive_data(b"Content-Type: auth/request\n\n")
    clean.receive_data(b"")
    assert clean.messages() == [AuthRequest()]


def test_data_after_eof_is_an_error() -> None:
    core = EslProtocol()
    core.receive_data(b"")
    with pytest.raises(ProtocolError, match="after EOF"):
        core.receive_data(b"x")


# -- decoding event headers: the fast path equals the per-line path -----------------------


def fs_encode(value: str) -> str:
    """switch_url_encode, strictly (a literal % always becomes %25)."""
    return quote(value, safe="/'(),!*$-._~")


@given(st.lists(st.tuples(st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,12}", fullmatch=True),
                          st.text()), min_size=1, max_size=12))
def test_any_values_encoded_as_freeswitch_does_decode_back(pairs: list[tuple[str, str]]) -> None:
    block = "\n".join(f"{n}: {fs_encode(v)}" for n, v in pairs).encode("ascii")
    names_, values = decode_plain_headers(block)
    assert list(zip(names_, values, strict=True)) == [
        (n, v.encode("utf-8", "surrogatepass").decode("utf-8", "replace")) for n, v in pairs
    ]


@given(st.lists(st.text(alphabet="ab:% \n\\0AF4x\x00é", max_size=12), min_size=1, max_size=8))
def test_the_fast_path_answers_exactly_as_the_per_line_path(lines: list[str]) -> None:
    block = "\n".join(lines).encode("utf-8")
    try:
        want = _decode_plain_slow(block)
    except ProtocolError:
        with pytest.raises(ProtocolError):
            decode_plain_headers(block)
        return
    assert decode_plain_headers(block) == want


def test_a_name_is_never_decoded() -> None:
    assert decode_plain_headers(b"X%41: y%41") == (("X%41",), ("yA",))


# -- commands -------------------------------------------------------------------------


def test_commands_encode_as_the_recorded_ones() -> None:
    sent = load("03_bgapi").sent
    job = Command("bgapi status", (("Job-UUID", "7f4db8a2-3c6e-4c1b-9a57-0e4d2b8c1f00"),))
    assert encode_command(job) in sent
    assert encode_command(Command("event plain BACKGROUND_JOB")) in sent


def test_a_body_gets_its_content_length_from_the_encoder() -> None:
    body = b"line one of the body\nline two: 100% done\n"
    command = Command("sendevent CUSTOM", (("Event-Subclass", "eslrec::test"),), body)
    assert encode_command(command) == (
        b"sendevent CUSTOM\nEvent-Subclass: eslrec::test\ncontent-length: 41\n\n" + body
    )


@pytest.mark.parametrize(
    "command",
    [
        Command("api status\n\napi fsctl shutdown"),
        Command("api status\r"),
        Command("bgapi status", (("Job-UUID", "x\nevent plain ALL"),)),
        Command("sendevent X", (("X-A\n", "b"),)),
        Command("sendevent X", (("X:A", "b"),)),
        Command("sendevent X", (("content-length", "5"),)),
        Command("   "),
    ],
)
def test_a_newline_can_never_start_a_second_command(command: Command) -> None:
    core = EslProtocol()
    with pytest.raises(InvalidCommand):
        core.send(command)
    assert core.data_to_send() == b""


def test_send_buffers_and_data_to_send_drains() -> None:
    core = EslProtocol()
    core.send(Command("auth ClueCon"))
    core.send_all([Command("api status")])
    assert core.data_to_send() == b"auth ClueCon\n\napi status\n\n"
    assert core.data_to_send() == b""


def test_the_repr_of_an_auth_command_hides_the_password() -> None:
    assert "ClueCon" not in repr(Command("auth ClueCon"))
