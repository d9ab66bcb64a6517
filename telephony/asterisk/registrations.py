"""Which devices are registered with Asterisk, and the event that says it changed.

A device registers to its PJSIP AOR (named after the device id, see pjsip.conf); each
registration is a contact of that AOR. `PJSIPShowContacts` lists every contact, and
Asterisk raises `ContactStatus` when one is created, removed (un-REGISTER, expiry) or
changes reachability (qualify).
"""

from __future__ import annotations

from telephony.asterisk.ami import AmiClient
from telephony.asterisk.ami.events import Event

CONTACT_EVENT = "ContactStatus"

# A contact that does not answer qualify pings: registered, but app_queue and Dial
# treat the device as unavailable, so it does not count.
_UNREACHABLE = "unreachable"


async def registered_devices(client: AmiClient) -> frozenset[str] | None:
    """The AORs (device ids) with at least one reachable contact now; None when Asterisk
    cannot tell (res_pjsip not loaded)."""
    listing = await client.send_list("PJSIPShowContacts")
    if not listing.response.success:
        # With no contact at all Asterisk answers an error rather than an empty list.
        if "no contacts" in listing.response.message.lower():
            return frozenset()
        return None
    devices: set[str] = set()
    for event in listing.events:
        if event.name != "ContactList":
            continue
        if (event.get("Status") or "").lower() == _UNREACHABLE:
            continue
        aor = contact_aor(event)
        if aor:
            devices.add(aor)
    return frozenset(devices)


def contact_aor(event: Event) -> str:
    """The AOR a `ContactList` or `ContactStatus` event is about: a contact's object
    name is `<aor>;@<hash>`."""
    aor = event.get("AOR") or event.get("Aor")
    if aor:
        return aor
    return (event.get("ObjectName") or "").partition(";@")[0]
