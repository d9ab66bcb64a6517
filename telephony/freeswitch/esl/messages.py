"""Typed messages of the FreeSWITCH Event Socket, and the decoding of event bodies.

The framing core (``protocol.py``) turns each complete frame into exactly one of
these frozen dataclasses. Outer header values are raw text (FreeSWITCH does not
encode them); event header values in ``text/event-plain`` and ``text/event-xml``
are URL-encoded by ``switch_url_encode`` and are decoded here, each value on its
own, after the lines are split (so an encoded newline or ``": "`` stays inside
its value and can never forge a header). ``text/event-json`` values are plain
JSON strings. Whatever the format, an :class:`Event` looks the same: header pairs
in wire order (repeats kept), an array header as FreeSWITCH's own
``ARRAY::a|:b`` text, and the body, if any, in :attr:`Event.body`.
"""

from __future__ import annotations

import codecs
import enum
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, unquote_to_bytes
from xml.etree import ElementTree

from telephony.freeswitch.esl.errors import ProtocolError

__all__ = [
    "ApiResponse",
    "AuthRequest",
    "CommandReply",
    "DisconnectNotice",
    "Event",
    "EventFormat",
    "LogData",
    "Message",
    "OtherMessage",
    "RudeRejection",
    "decode_plain_headers",
    "parse_json_event",
    "parse_plain_event",
    "parse_xml_event",
]

Headers = tuple[tuple[str, str], ...]

_ARRAY = "ARRAY::"


class EventFormat(enum.Enum):
    """The encoding FreeSWITCH used for an event (``event plain|json|xml``)."""

    PLAIN = "plain"
    JSON = "json"
    XML = "xml"


def _get(headers: Headers, name: str) -> str | None:
    for n, v in headers:
        if n == name:
            return v
    low = name.lower()
    for n, v in headers:
        if n.lower() == low:
            return v
    return None


@dataclass(frozen=True, slots=True)
class AuthRequest:
    """``auth/request``: the greeting; FreeSWITCH waits for ``auth PASSWORD``."""


@dataclass(frozen=True, slots=True)
class CommandReply:
    """``command/reply``: the answer to every ESL command except ``api``.

    ``reply_text`` is the raw ``Reply-Text`` (``+OK accepted``, ``-ERR invalid``,
    ``+OK Job-UUID: ...``); ``job_uuid`` is set for ``bgapi``.
    """

    reply_text: str
    job_uuid: str | None = None
    headers: Headers = ()

    @property
    def ok(self) -> bool:
        """True when FreeSWITCH said ``+OK``."""
        return self.reply_text.startswith("+OK")


@dataclass(frozen=True, slots=True)
class ApiResponse:
    """``api/response``: the output of ``api CMD``, errors included (``-ERR ...``)."""

    body: str

    @property
    def ok(self) -> bool:
        """False when the body starts with ``-ERR`` or ``-USAGE`` (FreeSWITCH's error prefixes)."""
        return not self.body.startswith(("-ERR", "-USAGE"))


@dataclass(frozen=True, slots=True)
class Event:
    """One FreeSWITCH event, whichever format it came in.

    ``names`` and ``values`` are the event's own headers, decoded, in wire order
    (two parallel tuples of equal length: building a pair per header was a third
    of the parse cost); :attr:`headers` gives them as pairs. A name may repeat (CODEC events
    carry ``Channel-Write-Codec-Name`` twice). An event with a payload
    (BACKGROUND_JOB's api output, a CUSTOM event sent with a body) keeps its
    ``Content-Length`` header and has the payload in ``body``.
    """

    name: str
    subclass: str | None
    names: tuple[str, ...]
    values: tuple[str, ...]
    body: str | None
    format: EventFormat

    @property
    def key(self) -> str:
        """What subscriptions match on: ``NAME``, or ``CUSTOM subclass`` for a CUSTOM event."""
        if self.subclass is not None and self.name == "CUSTOM":
            return f"CUSTOM {self.subclass}"
        return self.name

    @property
    def headers(self) -> Headers:
        """``(name, value)`` pairs in wire order, repeats included."""
        return tuple(zip(self.names, self.values, strict=True))

    def get(self, name: str, default: str | None = None) -> str | None:
        """First value of header ``name`` (exact spelling first, then any case)."""
        try:
            return self.values[self.names.index(name)]
        except ValueError:
            pass
        low = name.lower()
        for n, v in zip(self.names, self.values, strict=True):
            if n.lower() == low:
                return v
        return default

    def get_all(self, name: str) -> tuple[str, ...]:
        """Every value of header ``name`` (exact spelling), in order."""
        return tuple(v for n, v in zip(self.names, self.values, strict=True) if n == name)

    def get_array(self, name: str) -> tuple[str, ...]:
        """An array header's items (``ARRAY::a|:b`` in plain and json; repeats in xml).

        A header that is not an array gives its values as they are.
        """
        values = self.get_all(name)
        if len(values) == 1 and values[0].startswith(_ARRAY):
            return tuple(values[0][len(_ARRAY) :].split("|:"))
        return values

    def to_dict(self) -> dict[str, str]:
        """Header name -> value; the first of repeated headers wins."""
        # names and values have the same length by construction: no strict check here,
        # this runs once per event a subscriber reads as a dict.
        out = dict(zip(self.names, self.values, strict=False))
        if len(out) != len(self.names):  # a repeated name: let its first value win
            out = dict(zip(reversed(self.names), reversed(self.values), strict=False))
        return out

    @property
    def unique_id(self) -> str | None:
        """``Unique-ID``: the channel the event is about, if any."""
        return self.get("Unique-ID")

    @property
    def job_uuid(self) -> str | None:
        """``Job-UUID`` (BACKGROUND_JOB events)."""
        return self.get("Job-UUID")


@dataclass(frozen=True, slots=True)
class LogData:
    """``log/data``: one log line, after ``log LEVEL``."""

    level: int
    text: str
    headers: Headers

    @property
    def user_data(self) -> str:
        """``User-Data``: the channel uuid the line is about, or empty."""
        return _get(self.headers, "User-Data") or ""


@dataclass(frozen=True, slots=True)
class DisconnectNotice:
    """``text/disconnect-notice``: FreeSWITCH is about to close the connection.

    After our ``exit`` or a refused ``auth`` the text is the ClueCon goodbye; on
    shutdown it is ``The system is being shut down.``. A connection bound with
    ``myevents`` gets ``Controlled-Session-UUID`` and ``Content-Disposition``.
    """

    text: str
    headers: Headers

    @property
    def disposition(self) -> str | None:
        """``Content-Disposition`` (``disconnect``, or ``linger`` for a lingering session)."""
        return _get(self.headers, "Content-Disposition")


@dataclass(frozen=True, slots=True)
class RudeRejection:
    """``text/rude-rejection``: the Event Socket ACL refused this address; a close follows."""

    text: str


@dataclass(frozen=True, slots=True)
class OtherMessage:
    """A frame of a content type this core does not know; kept rather than fatal."""

    content_type: str
    headers: Headers
    body: bytes


Message = (
    AuthRequest
    | CommandReply
    | ApiResponse
    | Event
    | LogData
    | DisconnectNotice
    | RudeRejection
    | OtherMessage
)


# -- text/event-plain -------------------------------------------------------------

# A "%" that sits before its line's ":" is in a header name (values hold no raw ":"
# once the fast path's colon count has passed).
_NAME_WITH_PERCENT = re.compile(rb"%[^\n:%]*+:")
_escape_decode = codecs.escape_decode


def decode_plain_headers(block: bytes) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split ``Name: value`` lines, then URL-decode each value (never the names).

    Returns the names and the decoded values, both in wire order. FreeSWITCH
    encodes every byte below 0x20 or above 0x7E and ``: %`` among others in a
    value, and its values are C strings (no NUL), so a raw block is printable
    ASCII whose only ``": "`` are the name/value separators. The fast path relies
    on exactly that: it turns both separators into NUL - which no decoded value
    can contain - decodes every ``%XX`` of the block in one C pass, reads the
    bytes as UTF-8 once and splits on NUL. Line and value boundaries therefore
    come from the raw bytes, before any decoding, so an encoded newline or
    ``%3A%20`` stays inside its value. A block that does not look exactly like
    that (a backslash, a ``%00``, a line with no or two colons, a ``%`` in a
    name or one not followed by two hex digits) takes the per-line path, which
    gives the same answer.
    """
    if not block:
        return (), ()
    split = block.replace(b": ", b"\0")
    lines = block.count(b"\n") + 1
    if (
        len(block) - len(split) == lines  # as many ": " as lines ...
        and b":" not in split  # ... and no other colon, so one per line
        and b"\\" not in split
        and not _NAME_WITH_PERCENT.search(block)
    ):
        try:
            decoded = _escape_decode(split.replace(b"\n", b"\0").replace(b"%", b"\\x"))[0]
        except ValueError:
            pass  # "%" not followed by two hex digits: the per-line path keeps it
        else:
            flat = decoded.decode("utf-8", "replace").split("\0")
            if len(flat) == 2 * lines:  # no %00 made a separator of its own
                return tuple(flat[0::2]), tuple(flat[1::2])
    return _decode_plain_slow(block)


def _decode_plain_slow(block: bytes) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if not block:
        return (), ()
    names: list[str] = []
    values: list[str] = []
    for number, line in enumerate(block.split(b"\n"), 1):
        name, sep, value = line.partition(b": ")
        if not sep:
            raise ProtocolError(f"event header line {number} has no ': ' ({line[:60]!r})")
        names.append(name.decode("utf-8", "replace"))
        values.append(unquote_to_bytes(value).decode("utf-8", "replace") if b"%" in value
                      else value.decode("utf-8", "replace"))
    return tuple(names), tuple(values)


def parse_plain_event(body: bytes) -> Event:
    """A ``text/event-plain`` body: header lines, a blank line, then any payload.

    The payload's length is the event's own (nested) ``Content-Length``, its last
    header; a payload shorter than that is a :class:`ProtocolError`.
    """
    end = body.find(b"\n\n")
    if end < 0:
        # FreeSWITCH always closes the block with an empty line; tolerate its
        # absence only as a block with no payload.
        block = body.rstrip(b"\n")
        rest = b""
    else:
        block = body[:end]
        rest = body[end + 2 :]
    names, values = decode_plain_headers(block)
    payload: str | None = None
    # The nested Content-Length is the last header FreeSWITCH writes (a sendevent's
    # own lower-case "content-length" may sit earlier and is not it).
    if names and names[-1] == "Content-Length":
        length_text = values[-1]
        if not length_text.isdigit() or not length_text.isascii():
            raise ProtocolError(f"event Content-Length is not a number: {length_text[:20]!r}")
        length = int(length_text)
        if len(rest) < length:
            raise ProtocolError(
                f"event payload is {len(rest)} bytes, its Content-Length says {length}"
            )
        payload = rest[:length].decode("utf-8", "replace")
    return _event(names, values, payload, EventFormat.PLAIN)


def _event(
    names: tuple[str, ...], values: tuple[str, ...], body: str | None, fmt: EventFormat
) -> Event:
    try:
        name = values[names.index("Event-Name")]
    except ValueError:
        raise ProtocolError(f"{fmt.value} event without Event-Name") from None
    subclass: str | None = None
    if name == "CUSTOM" and "Event-Subclass" in names:
        subclass = values[names.index("Event-Subclass")]
    return Event(name, subclass, names, values, body, fmt)


# -- text/event-json ---------------------------------------------------------------


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as its key/value pairs, in order, duplicates kept."""


def parse_json_event(body: bytes) -> Event:
    """A ``text/event-json`` body: one flat object; duplicate keys kept, in order.

    Values are strings (FreeSWITCH sends numbers as strings too) or arrays of
    strings, which become ``ARRAY::a|:b`` like their plain form; ``_body`` is the
    payload.
    """
    try:
        pairs = json.loads(body, object_pairs_hook=_Pairs)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"text/event-json body is not JSON: {exc}") from None
    if not isinstance(pairs, _Pairs):
        raise ProtocolError("text/event-json body is not a JSON object")
    names: list[str] = []
    values: list[str] = []
    payload: str | None = None
    for key, value in pairs:
        if isinstance(value, str):
            if key == "_body":
                payload = value
                continue
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            value = _ARRAY + "|:".join(value)
        else:
            raise ProtocolError(f"text/event-json header {key!r} is not a string or string array")
        names.append(key)
        values.append(value)
    return _event(tuple(names), tuple(values), payload, EventFormat.JSON)


# -- text/event-xml -----------------------------------------------------------------


def parse_xml_event(body: bytes) -> Event:
    """A ``text/event-xml`` body: ``<event><headers><Name>value</Name>...`` (values
    URL-encoded as in plain; an array header is one element per item).

    The payload follows ``</headers>`` in ``<body>``; FreeSWITCH indents the closing
    tag, so the payload is cut to the ``<Content-Length>`` it states.
    """
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise ProtocolError(f"text/event-xml body is not XML: {exc}") from None
    section = root.find("headers")
    if root.tag != "event" or section is None:
        raise ProtocolError("text/event-xml body is not <event><headers>...")
    names = [child.tag for child in section]
    values = [unquote(child.text or "", errors="replace") for child in section]
    payload: str | None = None
    body_element = root.find("body")
    if body_element is not None:
        text = body_element.text or ""
        length_text = root.findtext("Content-Length")
        if length_text is not None and length_text.isdigit():
            text = text.encode("utf-8")[: int(length_text)].decode("utf-8", "replace")
        payload = text
        # Plain and json events carry their payload's length as a header: so does this one.
        names.append("Content-Length")
        values.append(str(len(text.encode("utf-8"))))
    return _event(tuple(names), tuple(values), payload, EventFormat.XML)
