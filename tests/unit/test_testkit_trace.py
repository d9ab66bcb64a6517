"""How the test kit reads SIPp's message trace (no PBX needed)."""

from __future__ import annotations

from telephony.testing.trace import Direction, TraceParser

_INVITE = (
    b"INVITE sip:asa-soft@127.0.0.1:40000 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5060;rport;branch=z9hG4bKPj1\r\n"
    b'From: "Caller" <sip:+46701234567@127.0.0.1>;tag=abc\r\n'
    b"To: <sip:asa-soft@127.0.0.1>\r\n"
    b"i: call-1@127.0.0.1\r\n"
    b"CSeq: 7 INVITE\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 12\r\n\r\n"
    b"v=0\r\ns=-\r\n\r\n"
)
_RINGING = (
    b"SIP/2.0 180 Ringing\r\n"
    b"Call-ID: call-1@127.0.0.1\r\n"
    b"CSeq: 7 INVITE\r\n"
    b"To: <sip:asa-soft@127.0.0.1>;tag=xyz\r\n"
    b"Content-Length: 0\r\n\r\n"
)
TRACE = (
    b"----------------------------------------------- 2026-11-23 21:52:18.161524\n"
    + f"UDP message received [{len(_INVITE)}] bytes :\n\n".encode()
    + _INVITE
    + b"\n\n----------------------------------------------- 2026-11-23 21:52:18.161910\n"
    + f"UDP message sent ({len(_RINGING)} bytes):\n\n".encode()
    + _RINGING
    + b"\n\n"
)


def test_messages_are_the_same_whatever_the_read_sizes() -> None:
    expected = TraceParser().feed(TRACE)
    for size in (1, 2, 7, 37, 100):
        parser = TraceParser()
        got = []
        for start in range(0, len(TRACE), size):
            got += parser.feed(TRACE[start : start + size])
        assert got == expected
    assert [m.start_line.split(" ")[0] for m in expected] == ["INVITE", "SIP/2.0"]


def test_a_message_is_read_with_direction_headers_and_exact_body() -> None:
    invite, ringing = TraceParser().feed(TRACE)

    assert invite.direction is Direction.RECEIVED
    assert invite.method == "INVITE"
    assert invite.call_id == "call-1@127.0.0.1"  # compact form `i:`
    assert invite.cseq == (7, "INVITE")
    assert invite.from_user == "+46701234567"
    assert invite.to_tag is None
    assert invite.body == "v=0\r\ns=-\r\n\r\n"
    assert ringing.direction is Direction.SENT
    assert (ringing.status, ringing.reason, ringing.to_tag) == (180, "Ringing", "xyz")
