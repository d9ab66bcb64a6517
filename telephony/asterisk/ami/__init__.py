"""Asterisk Manager Interface: sans-I/O protocol core, typed events, asyncio client.

``from telephony.asterisk.ami import AmiClient`` is the usual entry point; see
:mod:`telephony.asterisk.ami.client` for its guarantees (ActionID matching, no silent
re-send after a reconnect, auth failures never retried, ``wanted_events`` turned
into a per-connection server-side event filter).
"""

from telephony.asterisk.ami.client import (
    SYNTHETIC_EVENTS,
    AmiClient,
    ConnectionState,
    EventCallback,
    EventFilter,
    Subscription,
)
from telephony.asterisk.ami.errors import (
    AmiActionError,
    AmiAuthError,
    AmiConnectionError,
    AmiError,
    AmiFilterError,
    AmiTimeout,
    InvalidAction,
    InvalidSubscription,
    ProtocolError,
)
from telephony.asterisk.ami.events import (
    Connected,
    Disconnected,
    Event,
    Greeting,
    ListResponse,
    Message,
    MessageKind,
    Reconnected,
    Response,
    parse_event,
    parse_response,
)
from telephony.asterisk.ami.protocol import NEED_DATA, Action, AmiProtocol, NeedData, encode_action

__all__ = [
    "NEED_DATA",
    "SYNTHETIC_EVENTS",
    "Action",
    "AmiActionError",
    "AmiAuthError",
    "AmiClient",
    "AmiConnectionError",
    "AmiError",
    "AmiFilterError",
    "AmiProtocol",
    "AmiTimeout",
    "Connected",
    "ConnectionState",
    "Disconnected",
    "Event",
    "EventCallback",
    "EventFilter",
    "Greeting",
    "InvalidAction",
    "InvalidSubscription",
    "ListResponse",
    "Message",
    "MessageKind",
    "NeedData",
    "ProtocolError",
    "Reconnected",
    "Response",
    "Subscription",
    "encode_action",
    "parse_event",
    "parse_response",
]
