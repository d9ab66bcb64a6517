"""Messages, responses and typed events of the Asterisk Manager Interface.

The framing core (``protocol.py``) produces generic :class:`Message` objects only:
an ordered tuple of header lines, nothing else, so parsing stays cheap. Typed
views (:class:`Response`, :class:`QueueMemberStatus`, ...) are built on dispatch by
:func:`parse_response` and :func:`parse_event`; unknown event names fall back to
the generic :class:`Event`.

Typed integer fields read ``0`` and boolean fields ``False`` when Asterisk leaves
the header out or sends something non-numeric; the untouched text is always
available through ``event.get(name)``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, TypeVar

__all__ = [
    "AgentCalled",
    "AgentComplete",
    "AgentConnect",
    "AgentRingNoAnswer",
    "Connected",
    "ContactStatus",
    "DBGetResponse",
    "DBGetTreeResponse",
    "DeviceStateChange",
    "DialBegin",
    "DialEnd",
    "Disconnected",
    "Event",
    "ExtensionStatus",
    "FullyBooted",
    "Greeting",
    "Hangup",
    "ListResponse",
    "Message",
    "MessageKind",
    "Newchannel",
    "Newstate",
    "PresenceStateChange",
    "QueueCallerAbandon",
    "QueueCallerJoin",
    "QueueCallerLeave",
    "QueueEntry",
    "QueueMember",
    "QueueMemberAdded",
    "QueueMemberEvent",
    "QueueMemberPause",
    "QueueMemberRemoved",
    "QueueMemberStatus",
    "QueueParams",
    "QueueStatusComplete",
    "Reconnected",
    "Response",
    "event_class",
    "parse_event",
    "parse_response",
]


_SEP = ": "


class MessageKind(enum.Enum):
    """What the first header line of a frame says the frame is."""

    EVENT = "Event"
    RESPONSE = "Response"
    OTHER = "Other"


@dataclass(frozen=True, slots=True)
class Greeting:
    """The banner line Asterisk sends first, e.g. ``Asterisk Call Manager/11.0.0``."""

    product: str
    version: str


@dataclass(frozen=True, slots=True)
class Message:
    """One AMI frame: its header lines, decoded, in wire order.

    The framing core only splits a frame into ``lines``; each line is split into
    name and value on its first ``": "`` when it is read (``get``, ``headers``,
    typed conversion). That keeps framing at a few allocations per frame - per-line
    tuples built for every event dominated the parse cost - and events nobody looks
    at are never split.

    A line without ``": "`` is kept, not dropped and not fatal: a stray line in one
    event must not tear down a long-lived event stream, and keeping it preserves
    the information (e.g. the ``--END COMMAND--`` trailer of pre-AMI-2 Command
    output). :attr:`malformed_lines` lists such lines; :attr:`headers` shows them
    as ``(line, "")``; ``get`` never matches them. Repeated headers (``Output``,
    ``ChanVariable``, ``Variable``) are all kept, in order.
    """

    lines: tuple[str, ...]

    @property
    def kind(self) -> MessageKind:
        """EVENT or RESPONSE, from the first header line."""
        if self.lines:
            first = self.lines[0]
            if first.startswith("Event: "):
                return MessageKind.EVENT
            if first.startswith("Response: "):
                return MessageKind.RESPONSE
            low = first.partition(_SEP)[0].lower()
            if low == "event":
                return MessageKind.EVENT
            if low == "response":
                return MessageKind.RESPONSE
        return MessageKind.OTHER

    @property
    def name(self) -> str:
        """The value of the first header: the event name or the response status."""
        return self.lines[0].partition(_SEP)[2] if self.lines else ""

    @property
    def parts(self) -> tuple[tuple[str, str, str], ...]:
        """Each line as ``line.partition(": ")``: ``(name, ": ", value)``, or
        ``(line, "", "")`` for a line without the separator."""
        return tuple(map(str.partition, self.lines, repeat(_SEP)))

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        """``(name, value)`` pairs in wire order, repeated headers included."""
        return tuple((n, v) for n, _, v in self.parts)

    @property
    def action_id(self) -> str | None:
        """The ``ActionID`` header, if any."""
        return self.get("ActionID")

    @property
    def malformed_lines(self) -> tuple[str, ...]:
        """Lines that had no ``": "`` separator."""
        return tuple(line for line in self.lines if _SEP not in line)

    def get(self, name: str, default: str | None = None) -> str | None:
        """First value of header ``name`` (case-insensitive), else ``default``."""
        prefix = name + _SEP
        for line in self.lines:  # Asterisk's own spelling: no split needed
            if line.startswith(prefix):
                return line[len(prefix) :]
        low = name.lower()
        for n, sep, v in self.parts:
            if sep and n.lower() == low:
                return v
        return default

    def get_all(self, name: str) -> tuple[str, ...]:
        """Every value of header ``name`` (case-insensitive), in order."""
        low = name.lower()
        return tuple(v for n, sep, v in self.parts if sep and n.lower() == low)

    def to_dict(self) -> dict[str, str]:
        """Lower-cased header name -> value; the first of repeated headers wins."""
        # built from the end so that the first occurrence is written last
        return {
            n.lower(): v
            for n, sep, v in map(str.partition, reversed(self.lines), repeat(_SEP))
            if sep
        }

    @classmethod
    def from_headers(cls, *headers: tuple[str, str]) -> Message:
        """Build a message from ``(name, value)`` pairs (tests, synthetic events)."""
        return cls(tuple(f"{n}{_SEP}{v}" for n, v in headers))


_EMPTY = Message(())


@dataclass(frozen=True, slots=True)
class Response:
    """A ``Response:`` frame: Success, Error, Goodbye (or Follows on old PBXs)."""

    status: str
    message: str
    action_id: str | None
    output: tuple[str, ...]
    raw: Message

    @property
    def success(self) -> bool:
        """True unless Asterisk said ``Error`` (Goodbye and Follows are not errors)."""
        return self.status.lower() != "error"

    def get(self, name: str, default: str | None = None) -> str | None:
        """A header of the response (case-insensitive)."""
        return self.raw.get(name, default)

    def check(self, action: str | None = None) -> Response:
        """Return self, or raise :class:`AmiActionError` for ``Response: Error``."""
        if not self.success:
            from telephony.asterisk.ami.errors import AmiActionError

            raise AmiActionError(self, action)
        return self


def parse_response(message: Message) -> Response:
    """Type a ``Response:`` message."""
    status = ""
    text = ""
    action_id: str | None = None
    output: list[str] = []
    for n, sep, v in message.parts:
        low = n.lower()
        if not sep:
            # Pre-AMI-2 "Response: Follows" Command output: raw text + --END COMMAND--
            text_lines = n.removesuffix("--END COMMAND--").splitlines()
            output.extend(line for line in text_lines if line)
        elif low == "output":
            output.append(v)
        elif low == "response" and not status:
            status = v
        elif low == "message" and not text:
            text = v
        elif low == "actionid" and action_id is None:
            action_id = v
    return Response(status, text, action_id, tuple(output), message)


@dataclass(frozen=True, slots=True)
class Event:
    """Any AMI event. Typed subclasses add attributes; ``get`` reaches every header."""

    name: str
    raw: Message = field(repr=False)

    def get(self, header: str, default: str | None = None) -> str | None:
        """A header of the event (case-insensitive)."""
        return self.raw.get(header, default)

    @property
    def action_id(self) -> str | None:
        """``ActionID`` when the event belongs to a list answering an action."""
        return self.raw.get("ActionID")


@dataclass(frozen=True, slots=True)
class ListResponse:
    """Answer to a list action: the Response, the events, and the closing event.

    ``complete`` is the ``*Complete`` event (``EventList: Complete``), or ``None``
    when Asterisk refused the action and no list followed.
    """

    response: Response
    events: tuple[Event, ...]
    complete: Event | None

    def check(self, action: str | None = None) -> ListResponse:
        """Return self, or raise :class:`AmiActionError` for ``Response: Error``."""
        self.response.check(action)
        return self


# -- synthetic connection events -------------------------------------------------


@dataclass(frozen=True, slots=True)
class Connected(Event):
    """Synthetic: the first Login succeeded."""

    name: str = "Connected"
    raw: Message = field(default=_EMPTY, repr=False)


@dataclass(frozen=True, slots=True)
class Disconnected(Event):
    """Synthetic: the connection was lost (or closed); ``reason`` says why."""

    name: str = "Disconnected"
    raw: Message = field(default=_EMPTY, repr=False)
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Reconnected(Event):
    """Synthetic: a new connection logged in after a loss. State may have changed
    while disconnected, so subscribers should re-sync (e.g. QueueStatus)."""

    name: str = "Reconnected"
    raw: Message = field(default=_EMPTY, repr=False)
    attempts: int = 0


# -- typed events -----------------------------------------------------------------


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return 0


def _bool(value: str) -> bool:
    return value.lower() in ("1", "yes", "true", "on")


def _str(value: str) -> str:
    return value


# field name -> (header name, converter)
_Spec = dict[str, tuple[str, Callable[[str], Any]]]
_DEFAULTS: dict[Callable[[str], Any], Any] = {_int: 0, _bool: False, _str: ""}
_REGISTRY: dict[
    str, tuple[type[Event], tuple[tuple[str, str, str, Callable[[str], Any]], ...]]
] = {}

_E = TypeVar("_E", bound=Event)


def _spec(*items: tuple[str, str] | tuple[str, str, Callable[[str], Any]]) -> _Spec:
    out: _Spec = {}
    for item in items:
        conv: Callable[[str], Any] = item[2] if len(item) == 3 else _str
        out[item[0]] = (item[1], conv)
    return out


_CHANNEL = _spec(
    ("channel", "Channel"),
    ("channel_state", "ChannelState", _int),
    ("channel_state_desc", "ChannelStateDesc"),
    ("caller_id_num", "CallerIDNum"),
    ("caller_id_name", "CallerIDName"),
    ("connected_line_num", "ConnectedLineNum"),
    ("connected_line_name", "ConnectedLineName"),
    ("context", "Context"),
    ("exten", "Exten"),
    ("uniqueid", "Uniqueid"),
    ("linkedid", "Linkedid"),
)
_DEST = _spec(
    ("dest_channel", "DestChannel"),
    ("dest_channel_state", "DestChannelState", _int),
    ("dest_caller_id_num", "DestCallerIDNum"),
    ("dest_caller_id_name", "DestCallerIDName"),
    ("dest_uniqueid", "DestUniqueid"),
    ("dest_linkedid", "DestLinkedid"),
)
_MEMBER = _spec(
    ("queue", "Queue"),
    ("member_name", "MemberName"),
    ("interface", "Interface"),
    ("state_interface", "StateInterface"),
    ("membership", "Membership"),
    ("penalty", "Penalty", _int),
    ("calls_taken", "CallsTaken", _int),
    ("last_call", "LastCall", _int),
    ("last_pause", "LastPause", _int),
    ("login_time", "LoginTime", _int),
    ("in_call", "InCall", _bool),
    ("status", "Status", _int),
    ("paused", "Paused", _bool),
    ("paused_reason", "PausedReason"),
    ("ring_in_use", "Ringinuse", _bool),
    ("wrapup_time", "Wrapuptime", _int),
)
_AGENT = _spec(("queue", "Queue"), ("interface", "Interface"), ("member_name", "MemberName"))


def _register(name: str, spec: _Spec) -> Callable[[type[_E]], type[_E]]:
    """Bind an event name to a class and its header spec; checks they agree."""

    def deco(cls: type[_E]) -> type[_E]:
        own = set(cls.__dataclass_fields__) - {"name", "raw"}
        if own != set(spec):  # a typo here would silently drop a field
            raise TypeError(f"{cls.__name__}: spec/field mismatch {own ^ set(spec)}")
        _REGISTRY[name.lower()] = (
            cls,
            tuple((f, h, h.lower(), conv) for f, (h, conv) in spec.items()),
        )
        return cls

    return deco


def event_class(name: str) -> type[Event]:
    """The class :func:`parse_event` builds for event ``name`` (``Event`` if untyped)."""
    entry = _REGISTRY.get(name.lower())
    return entry[0] if entry else Event


def parse_event(message: Message) -> Event:
    """Type an ``Event:`` message; unknown names give a generic :class:`Event`."""
    name = message.name
    entry = _REGISTRY.get(name.lower())
    if entry is None:
        return Event(name, message)
    cls, fields = entry
    # One dict per event, built in C (reversed so the first repeated header wins);
    # a malformed line (no ": ") makes dict() refuse the 1-item split: slow path.
    lines = message.lines
    try:
        values = dict(map(str.split, reversed(lines), repeat(_SEP), repeat(1)))
    except ValueError:
        values = {n: v for n, sep, v in reversed(message.parts) if sep}
    kwargs: dict[str, Any] = {}
    lowered: dict[str, str] | None = None
    for fname, header, low, conv in fields:
        value = values.get(header)  # Asterisk's own spelling first
        if value is None:
            if lowered is None:  # case-insensitive fallback, built at most once
                lowered = {k.lower(): v for k, v in values.items()}
            value = lowered.get(low)
        kwargs[fname] = _DEFAULTS[conv] if value is None else conv(value)
    return cls(name, message, **kwargs)


# Field declarations below mirror the specs; ``_register`` verifies they match.


@_register(
    "QueueParams",
    _spec(
        ("queue", "Queue"),
        ("max", "Max", _int),
        ("strategy", "Strategy"),
        ("calls", "Calls", _int),
        ("holdtime", "Holdtime", _int),
        ("talk_time", "TalkTime", _int),
        ("completed", "Completed", _int),
        ("abandoned", "Abandoned", _int),
        ("service_level", "ServiceLevel", _int),
        ("service_level_perf", "ServicelevelPerf"),
        ("weight", "Weight", _int),
    ),
)
@dataclass(frozen=True, slots=True)
class QueueParams(Event):
    """One queue's summary in a QueueStatus list."""

    queue: str
    max: int
    strategy: str
    calls: int
    holdtime: int
    talk_time: int
    completed: int
    abandoned: int
    service_level: int
    service_level_perf: str
    weight: int


@dataclass(frozen=True, slots=True)
class QueueMemberEvent(Event):
    """Common shape of QueueMember (status list) and QueueMember* change events."""

    queue: str
    member_name: str
    interface: str
    state_interface: str
    membership: str
    penalty: int
    calls_taken: int
    last_call: int
    last_pause: int
    login_time: int
    in_call: bool
    status: int
    paused: bool
    paused_reason: str
    ring_in_use: bool
    wrapup_time: int


# QueueStatus' QueueMember says Name/Location where the change events say
# MemberName/Interface; normalise so consumers see one shape.
_STATUS_MEMBER = dict(_MEMBER)
_STATUS_MEMBER["member_name"] = ("Name", _str)
_STATUS_MEMBER["interface"] = ("Location", _str)


@_register("QueueMember", _STATUS_MEMBER)
@dataclass(frozen=True, slots=True)
class QueueMember(QueueMemberEvent):
    """A member in a QueueStatus list (``Name``/``Location`` mapped to member_name/interface)."""


@_register("QueueMemberAdded", _MEMBER)
@dataclass(frozen=True, slots=True)
class QueueMemberAdded(QueueMemberEvent):
    """A member was added to a queue."""


@_register("QueueMemberRemoved", _MEMBER)
@dataclass(frozen=True, slots=True)
class QueueMemberRemoved(QueueMemberEvent):
    """A member was removed from a queue."""


@_register("QueueMemberPause", _MEMBER)
@dataclass(frozen=True, slots=True)
class QueueMemberPause(QueueMemberEvent):
    """A member was paused or unpaused."""


@_register("QueueMemberStatus", _MEMBER)
@dataclass(frozen=True, slots=True)
class QueueMemberStatus(QueueMemberEvent):
    """A member's device state or call counters changed."""


@_register(
    "QueueEntry",
    _spec(
        ("queue", "Queue"),
        ("position", "Position", _int),
        ("channel", "Channel"),
        ("uniqueid", "Uniqueid"),
        ("caller_id_num", "CallerIDNum"),
        ("caller_id_name", "CallerIDName"),
        ("connected_line_num", "ConnectedLineNum"),
        ("connected_line_name", "ConnectedLineName"),
        ("wait", "Wait", _int),
    ),
)
@dataclass(frozen=True, slots=True)
class QueueEntry(Event):
    """A waiting caller in a QueueStatus list."""

    queue: str
    position: int
    channel: str
    uniqueid: str
    caller_id_num: str
    caller_id_name: str
    connected_line_num: str
    connected_line_name: str
    wait: int


@_register("QueueStatusComplete", _spec(("list_items", "ListItems", _int)))
@dataclass(frozen=True, slots=True)
class QueueStatusComplete(Event):
    """End of a QueueStatus list."""

    list_items: int


@dataclass(frozen=True, slots=True)
class ChannelEvent(Event):
    """Events carrying a channel snapshot."""

    channel: str
    channel_state: int
    channel_state_desc: str
    caller_id_num: str
    caller_id_name: str
    connected_line_num: str
    connected_line_name: str
    context: str
    exten: str
    uniqueid: str
    linkedid: str


@_register("Newchannel", _CHANNEL)
@dataclass(frozen=True, slots=True)
class Newchannel(ChannelEvent):
    """A channel was created."""


@_register("Newstate", _CHANNEL)
@dataclass(frozen=True, slots=True)
class Newstate(ChannelEvent):
    """A channel changed state (Ringing, Up, ...)."""


@_register("Hangup", {**_CHANNEL, **_spec(("cause", "Cause", _int), ("cause_txt", "Cause-txt"))})
@dataclass(frozen=True, slots=True)
class Hangup(ChannelEvent):
    """A channel hung up."""

    cause: int
    cause_txt: str


@dataclass(frozen=True, slots=True)
class _DialEvent(ChannelEvent):
    dest_channel: str
    dest_channel_state: int
    dest_caller_id_num: str
    dest_caller_id_name: str
    dest_uniqueid: str
    dest_linkedid: str


@_register("DialBegin", {**_CHANNEL, **_DEST, **_spec(("dial_string", "DialString"))})
@dataclass(frozen=True, slots=True)
class DialBegin(_DialEvent):
    """A dial started (caller fields are empty when the dial has no calling channel)."""

    dial_string: str


@_register("DialEnd", {**_CHANNEL, **_DEST, **_spec(("dial_status", "DialStatus"))})
@dataclass(frozen=True, slots=True)
class DialEnd(_DialEvent):
    """A dial ended with ``dial_status`` (ANSWER, BUSY, NOANSWER, CANCEL, ...)."""

    dial_status: str


@_register(
    "QueueCallerJoin",
    {
        **_CHANNEL,
        **_spec(("queue", "Queue"), ("position", "Position", _int), ("count", "Count", _int)),
    },
)
@dataclass(frozen=True, slots=True)
class QueueCallerJoin(ChannelEvent):
    """A caller entered a queue."""

    queue: str
    position: int
    count: int


@_register(
    "QueueCallerLeave",
    {
        **_CHANNEL,
        **_spec(("queue", "Queue"), ("position", "Position", _int), ("count", "Count", _int)),
    },
)
@dataclass(frozen=True, slots=True)
class QueueCallerLeave(ChannelEvent):
    """A caller left a queue (answered or gave up)."""

    queue: str
    position: int
    count: int


@_register(
    "QueueCallerAbandon",
    {
        **_CHANNEL,
        **_spec(
            ("queue", "Queue"),
            ("position", "Position", _int),
            ("original_position", "OriginalPosition", _int),
            ("hold_time", "HoldTime", _int),
        ),
    },
)
@dataclass(frozen=True, slots=True)
class QueueCallerAbandon(ChannelEvent):
    """A caller hung up while waiting in a queue."""

    queue: str
    position: int
    original_position: int
    hold_time: int


@dataclass(frozen=True, slots=True)
class _AgentEvent(_DialEvent):
    queue: str
    interface: str
    member_name: str


@_register("AgentCalled", {**_CHANNEL, **_DEST, **_AGENT})
@dataclass(frozen=True, slots=True)
class AgentCalled(_AgentEvent):
    """A queue member is being rung for a caller."""


@_register(
    "AgentConnect",
    {
        **_CHANNEL,
        **_DEST,
        **_AGENT,
        **_spec(("hold_time", "HoldTime", _int), ("ring_time", "RingTime", _int)),
    },
)
@dataclass(frozen=True, slots=True)
class AgentConnect(_AgentEvent):
    """A queue member answered a caller."""

    hold_time: int
    ring_time: int


@_register(
    "AgentComplete",
    {
        **_CHANNEL,
        **_DEST,
        **_AGENT,
        **_spec(
            ("hold_time", "HoldTime", _int), ("talk_time", "TalkTime", _int), ("reason", "Reason")
        ),
    },
)
@dataclass(frozen=True, slots=True)
class AgentComplete(_AgentEvent):
    """A queue call ended; ``reason`` is caller/agent/transfer.

    Asterisk 22 may omit the channel snapshots here (seen live when the caller
    channel was already gone): those fields are then empty."""

    hold_time: int
    talk_time: int
    reason: str


@_register(
    "AgentRingNoAnswer", {**_CHANNEL, **_DEST, **_AGENT, **_spec(("ring_time", "RingTime", _int))}
)
@dataclass(frozen=True, slots=True)
class AgentRingNoAnswer(_AgentEvent):
    """A queue member did not answer within the ring timeout."""

    ring_time: int


@_register("DeviceStateChange", _spec(("device", "Device"), ("state", "State")))
@dataclass(frozen=True, slots=True)
class DeviceStateChange(Event):
    """A device state (``PJSIP/1001``, ``Custom:x``, ``Queue:q_avail``) changed."""

    device: str
    state: str


@_register(
    "ExtensionStatus",
    _spec(
        ("exten", "Exten"),
        ("context", "Context"),
        ("hint", "Hint"),
        ("status", "Status", _int),
        ("status_text", "StatusText"),
    ),
)
@dataclass(frozen=True, slots=True)
class ExtensionStatus(Event):
    """A hint's extension state changed (or one ExtensionStateList item)."""

    exten: str
    context: str
    hint: str
    status: int
    status_text: str


@_register(
    "PresenceStateChange",
    _spec(
        ("presentity", "Presentity"),
        ("status", "Status"),
        ("subtype", "Subtype"),
        ("message", "Message"),
    ),
)
@dataclass(frozen=True, slots=True)
class PresenceStateChange(Event):
    """A presence state changed (or one PresenceStateList item)."""

    presentity: str
    status: str
    subtype: str
    message: str


@_register(
    "ContactStatus",
    _spec(
        ("uri", "URI"),
        ("contact_status", "ContactStatus"),
        ("aor", "AOR"),
        ("endpoint_name", "EndpointName"),
        ("round_trip_usec", "RoundtripUsec", _int),
    ),
)
@dataclass(frozen=True, slots=True)
class ContactStatus(Event):
    """A PJSIP contact was created, removed, became reachable or unreachable."""

    uri: str
    contact_status: str
    aor: str
    endpoint_name: str
    round_trip_usec: int


@_register(
    "FullyBooted",
    _spec(("status", "Status"), ("uptime", "Uptime", _int), ("last_reload", "LastReload", _int)),
)
@dataclass(frozen=True, slots=True)
class FullyBooted(Event):
    """Asterisk finished booting (also sent right after each Login)."""

    status: str
    uptime: int
    last_reload: int


@_register("DBGetResponse", _spec(("family", "Family"), ("key", "Key"), ("val", "Val")))
@dataclass(frozen=True, slots=True)
class DBGetResponse(Event):
    """The value of one AstDB key (DBGet answers with a one-item list)."""

    family: str
    key: str
    val: str


@_register("DBGetTreeResponse", _spec(("key", "Key"), ("val", "Val")))
@dataclass(frozen=True, slots=True)
class DBGetTreeResponse(Event):
    """One AstDB entry of a DBGetTree list; ``key`` is the full path ``/family/key``."""

    key: str
    val: str
