"""FreeSWITCH Event Socket (inbound): sans-I/O protocol core, typed messages, asyncio client.

``from telephony.freeswitch.esl import EslClient`` is the usual entry point; see
:mod:`telephony.freeswitch.esl.client` for its guarantees (replies matched in
command order, bgapi jobs matched by Job-UUID, events re-requested before
``Reconnected``, a wrong password never retried, nothing re-sent after a loss).
"""

from telephony.freeswitch.esl.client import EslClient, EventCallback, Subscription
from telephony.freeswitch.esl.errors import (
    EslAuthError,
    EslCommandError,
    EslConnectionError,
    EslError,
    EslTimeout,
    InvalidCommand,
    InvalidSubscription,
    ProtocolError,
)
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
)
from telephony.freeswitch.esl.notices import (
    NOTICES,
    ClientEvent,
    Connected,
    Disconnected,
    Reconnected,
)
from telephony.freeswitch.esl.protocol import NEED_DATA, Command, EslProtocol, NeedData

__all__ = [
    "NEED_DATA",
    "NOTICES",
    "ApiResponse",
    "AuthRequest",
    "ClientEvent",
    "Command",
    "CommandReply",
    "Connected",
    "DisconnectNotice",
    "Disconnected",
    "EslAuthError",
    "EslClient",
    "EslCommandError",
    "EslConnectionError",
    "EslError",
    "EslProtocol",
    "EslTimeout",
    "Event",
    "EventCallback",
    "EventFormat",
    "InvalidCommand",
    "InvalidSubscription",
    "LogData",
    "Message",
    "NeedData",
    "OtherMessage",
    "ProtocolError",
    "Reconnected",
    "RudeRejection",
    "Subscription",
]
