"""What the Event Socket client itself tells subscribers, beside FreeSWITCH's events.

Subscribers receive :data:`ClientEvent`: a FreeSWITCH :class:`Event`, or one of
these notices about the connection. They match subscriptions by ``key`` like
events do (``"Connected"``, ``"Disconnected"``, ``"Reconnected"``).
"""

from __future__ import annotations

from dataclasses import dataclass

from telephony.freeswitch.esl.messages import Event

__all__ = ["NOTICES", "ClientEvent", "Connected", "Disconnected", "Reconnected"]

#: The keys of the client's own notices: always allowed in a subscription.
NOTICES = frozenset({"Connected", "Disconnected", "Reconnected"})


@dataclass(frozen=True, slots=True)
class Connected:
    """The first login succeeded and FreeSWITCH confirmed the event subscription."""

    name: str = "Connected"

    @property
    def key(self) -> str:
        """What subscriptions match on."""
        return self.name


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The connection was lost or given up; ``reason`` says why."""

    reason: str = ""
    name: str = "Disconnected"

    @property
    def key(self) -> str:
        """What subscriptions match on."""
        return self.name


@dataclass(frozen=True, slots=True)
class Reconnected:
    """A new connection is logged in and subscribed again after a loss.

    Events of the outage are gone for good (FreeSWITCH keeps none for a listener
    that left), so a subscriber must re-read the state it keeps (agents, calls).
    """

    attempts: int = 0
    name: str = "Reconnected"

    @property
    def key(self) -> str:
        """What subscriptions match on."""
        return self.name


ClientEvent = Event | Connected | Disconnected | Reconnected
