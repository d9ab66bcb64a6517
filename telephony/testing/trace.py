"""Parse SIPp's message trace (`-trace_msg -message_file F`) into SIP messages, without I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

# Each message in the trace starts with a separator line carrying a timestamp, then a line
# saying whether it was sent or received, then a blank line, then the SIP message.
_SEPARATOR = re.compile(rb"^-{20,} (\S+ \S+)\r?\n", re.MULTILINE)
_DIRECTION = re.compile(rb"^\w+ message (sent|received) (?:\((\d+) bytes\)|\[(\d+)\] bytes)")

# Compact header forms (RFC 3261 section 7.3.3) so lookups work whatever the peer sends.
_COMPACT = {
    "i": "call-id",
    "f": "from",
    "t": "to",
    "v": "via",
    "m": "contact",
    "l": "content-length",
    "c": "content-type",
    "o": "event",
    "k": "supported",
}


class Direction(Enum):
    SENT = "sent"
    RECEIVED = "received"


@dataclass(frozen=True, slots=True)
class SipMessage:
    """One SIP message as SIPp sent or received it."""

    direction: Direction
    timestamp: str
    start_line: str
    headers: tuple[tuple[str, str], ...]
    body: str

    @property
    def is_request(self) -> bool:
        return not self.start_line.startswith("SIP/2.0 ")

    @property
    def method(self) -> str | None:
        """The request method, or None for a response."""
        return self.start_line.split(" ", 1)[0] if self.is_request else None

    @property
    def status(self) -> int | None:
        """The response status code, or None for a request."""
        if self.is_request:
            return None
        parts = self.start_line.split(" ", 2)
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None

    @property
    def reason(self) -> str:
        parts = self.start_line.split(" ", 2)
        return parts[2] if not self.is_request and len(parts) > 2 else ""

    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive, compact forms understood)."""
        wanted = _canonical(name)
        for key, value in self.headers:
            if _canonical(key) == wanted:
                return value
        return None

    @property
    def call_id(self) -> str:
        return self.header("Call-ID") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        """(number, method) from the CSeq header."""
        raw = (self.header("CSeq") or "").split()
        if len(raw) == 2 and raw[0].isdigit():
            return int(raw[0]), raw[1].upper()
        return 0, ""

    @property
    def from_user(self) -> str:
        """The user part of the From URI: the caller number of an INVITE."""
        return uri_user(self.header("From") or "")

    @property
    def to_tag(self) -> str | None:
        match = re.search(r";\s*tag=([^;>\s]+)", self.header("To") or "")
        return match.group(1) if match else None


def _canonical(name: str) -> str:
    lowered = name.strip().lower()
    return _COMPACT.get(lowered, lowered)


def uri_user(name_addr: str) -> str:
    """`"Name" <sip:+4670@host>;tag=x` -> `+4670`."""
    match = re.search(r"<?sips?:([^@>;]+)@", name_addr)
    return match.group(1) if match else ""


class TraceParser:
    """Incremental parser: feed bytes as the trace file grows, get complete messages back.

    A message is complete once the next separator appears; the last one is complete once
    its Content-Length worth of body is there (SIPp writes each message in one go, so a
    partial tail only happens when we read while it is writing).
    """

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[SipMessage]:
        self._buffer += data
        messages: list[SipMessage] = []
        while True:
            first = _SEPARATOR.search(self._buffer)
            if first is None:
                return messages
            following = _SEPARATOR.search(self._buffer, first.end())
            end = following.start() if following else len(self._buffer)
            block = self._buffer[first.end() : end]
            parsed = _parse_block(first.group(1), block, complete=following is not None)
            if parsed is None:
                # Keep the incomplete block (from its separator) for the next feed.
                self._buffer = self._buffer[first.start() :]
                return messages
            message, used = parsed
            messages.append(message)
            # Without a following separator, keep what comes after the message: it may be
            # the start of the next one.
            self._buffer = self._buffer[end if following else first.end() + used :]


def _parse_block(
    stamp: bytes, block: bytes, *, complete: bool
) -> tuple[SipMessage, int] | None:
    # SIPp writes "UDP message sent (N bytes):" or "... received [N] bytes :", a blank
    # line, then the N raw bytes of the message: the byte count tells us where it ends.
    match = _DIRECTION.match(block)
    if match is None:
        return (_junk(stamp, block), len(block)) if complete else None
    start = block.find(b"\n\n", match.end())
    if start < 0:
        return (_junk(stamp, block), len(block)) if complete else None
    raw = block[start + 2 :]
    size = int(match.group(2) or match.group(3))
    if len(raw) < size and not complete:
        return None
    raw = raw[:size]
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        head, _, body = raw.partition(b"\n\n")
    lines = head.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:
            # A folded continuation line belongs to the previous header.
            name, value = headers[-1]
            headers[-1] = (name, value + " " + line.strip())
        elif ":" in line:
            name, value = line.split(":", 1)
            headers.append((name.strip(), value.strip()))
    message = SipMessage(
        direction=Direction(match.group(1).decode()),
        timestamp=stamp.decode(),
        start_line=lines[0].strip(),
        headers=tuple(headers),
        body=body.decode("utf-8", "replace"),
    )
    return message, start + 2 + len(raw)


def _junk(stamp: bytes, text: bytes) -> SipMessage:
    # A block we cannot read as a SIP message; keep it visible rather than drop it.
    return SipMessage(Direction.RECEIVED, stamp.decode(), "", (), text.decode("utf-8", "replace"))
