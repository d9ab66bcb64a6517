"""Which devices are registered with Asterisk, and the event that says it changed.

A device registers to its PJSIP AOR (named after the device id, see pjsip.conf); each
registration is a contact of that AOR. `PJSIPShowContacts` lists every contact, and
Asterisk raises `ContactStatus` when one is created, removed (un-REGISTER, expiry) or
changes reachability (qualify). `ContactBook` keeps the list current from those events,
so a one-queue snapshot need not list every contact of the site again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from telephony.asterisk.ami import AmiClient
from telephony.asterisk.ami.events import Event

CONTACT_EVENT = "ContactStatus"
_LISTED = "ContactList"

# A contact that does not answer qualify pings: registered, but app_queue and Dial
# treat the device as unavailable, so it does not count.
_UNREACHABLE = "unreachable"
_REMOVED = "removed"


async def list_contacts(client: AmiClient) -> tuple[Event, ...] | None:
    """Every contact `PJSIPShowContacts` lists now; None when Asterisk cannot tell
    (res_pjsip not loaded)."""
    listing = await client.send_list("PJSIPShowContacts")
    if not listing.response.success:
        # With no contact at all Asterisk answers an error rather than an empty list.
        if "no contacts" in listing.response.message.lower():
            return ()
        return None
    return tuple(e for e in listing.events if e.name == _LISTED)


async def registered_devices(client: AmiClient) -> frozenset[str] | None:
    """The AORs (device ids) with at least one reachable contact now; None when Asterisk
    cannot tell (res_pjsip not loaded)."""
    contacts = await list_contacts(client)
    if contacts is None:
        return None
    book = ContactBook()
    book.load(book.begin(), contacts)
    return book.devices()


def contact_aor(event: Event) -> str:
    """The AOR a `ContactList` or `ContactStatus` event is about: a contact's object
    name is `<aor>;@<hash>`."""
    aor = event.get("AOR") or event.get("Aor")
    if aor:
        return aor
    return (event.get("ObjectName") or "").partition(";@")[0]


def _contact_id(event: Event) -> tuple[str, str]:
    # A contact is its URI within its AOR (the object name's hash is of the URI).
    return contact_aor(event), event.get("URI") or event.get("Uri") or ""


class ContactBook:
    """The contacts Asterisk has, kept from one listing plus the `ContactStatus` events
    after it (a pure state machine: the port feeds it events and listings).

    Events that arrive while a listing is on its way are kept and replayed onto it:
    each event carries a contact's whole new state, so replaying one the listing
    already shows changes nothing, and the last word on a contact is always applied
    last. `forget()` (a lost or new connection, where events may have been missed)
    makes the book unknown until the next listing.
    """

    def __init__(self) -> None:
        self._reachable: dict[tuple[str, str], bool] = {}
        self._known = False
        self._era = 0
        self._listening: list[list[Event]] = []

    @property
    def known(self) -> bool:
        """True when the book reflects Asterisk (a listing since the last `forget()`)."""
        return self._known

    def begin(self) -> _Listing:
        """Call before asking for a listing; pass the result to `load`."""
        heard: list[Event] = []
        self._listening.append(heard)
        return _Listing(self._era, heard)

    def load(self, listing: _Listing, contacts: Iterable[Event]) -> None:
        """The contacts a listing returned, plus whatever was heard since `begin`."""
        self.abandon(listing)
        reachable = {
            _contact_id(c): (c.get("Status") or "").lower() != _UNREACHABLE for c in contacts
        }
        self._reachable = reachable
        for event in listing.heard:
            self._apply(event)
        # A connection lost during the listing may have lost events after it too.
        self._known = listing.era == self._era

    def abandon(self, listing: _Listing) -> None:
        """A listing that failed (or is loaded): stop keeping events for it."""
        # By identity: two listings' event lists may well be equal (both empty).
        self._listening = [h for h in self._listening if h is not listing.heard]

    def hear(self, event: Event) -> None:
        """A `ContactStatus` event, in the order Asterisk sent it."""
        for heard in self._listening:
            heard.append(event)
        self._apply(event)

    def forget(self) -> None:
        """Events may have been missed: unknown until the next listing."""
        self._known = False
        self._era += 1

    def devices(self) -> frozenset[str]:
        """The AORs with at least one reachable contact."""
        return frozenset(aor for (aor, _), up in self._reachable.items() if up and aor)

    def _apply(self, event: Event) -> None:
        status = (event.get("ContactStatus") or "").lower()
        contact = _contact_id(event)
        if status == _REMOVED:
            self._reachable.pop(contact, None)
        elif status == "updated":
            # A refreshed registration keeps whatever qualify last found.
            self._reachable.setdefault(contact, True)
        elif status:
            # Created, Reachable, Unqualified (NonQualified), Unknown: there.
            self._reachable[contact] = status != _UNREACHABLE


@dataclass(frozen=True, slots=True, eq=False)
class _Listing:
    era: int
    heard: list[Event]
