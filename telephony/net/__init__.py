"""The connection lifecycle the PBX control clients share (AMI and Event Socket).

Each client keeps its own protocol (a sans-I/O core, request matching, login);
what every long-lived control connection needs is here, written once:

* :class:`Link` - one TCP connection as an asyncio protocol: bytes to the
  client's core, a ``lost`` future, graceful close with an abort fallback;
* :class:`Lifecycle` - :class:`ConnectionState`, connect/close under a lock, a
  supervisor that probes an idle connection and reconnects with
  :class:`Backoff`, final errors (a refused login) that end reconnection;
* :class:`EventHub` - subscribers, each with its own ordered queue and task off
  the read path, one-shot waiters, and events held while a (re)login finishes.

A client plugs in as a :class:`Session`: how to open and log in, how to probe,
how to say goodbye, which errors are final, and its own connection events.
"""

from telephony.net.backoff import Backoff
from telephony.net.hub import EventCallback, EventHub, Subscription
from telephony.net.lifecycle import ConnectionState, ErrorTypes, Lifecycle, Session
from telephony.net.link import Link

__all__ = [
    "Backoff",
    "ConnectionState",
    "ErrorTypes",
    "EventCallback",
    "EventHub",
    "Lifecycle",
    "Link",
    "Session",
    "Subscription",
]
