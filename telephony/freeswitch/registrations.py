"""Which devices are registered with FreeSWITCH, and the events that say it changed.

mod_sofia keeps registrations per SIP profile; `sofia xmlstatus profile <p> reg` lists
them (an expired one is gone once mod_sofia's registration check removed it, which
raises `sofia::expire`). A device's SIP user name is its device id.
"""

from __future__ import annotations

import re

from telephony.freeswitch.esl import Event

# A device registered, un-registered, or its registration expired.
REGISTRATION_EVENTS = (
    "CUSTOM sofia::register", "CUSTOM sofia::unregister", "CUSTOM sofia::expire",
)


# One registration's user, as `<sip-auth-user>` or as the user part of `<user>`. Read by
# a scan, not an XML tree: a site's thousands of registrations parse in a fraction of
# the time, and only site device ids (no markup in them) are looked up in the result.
_USER = re.compile(r"<sip-auth-user>([^<@]+)</sip-auth-user>|<user>([^<@]+)@")


def registered_devices(xml_text: str) -> frozenset[str] | None:
    """The SIP user names with a registration in `sofia xmlstatus profile <p> reg`
    output, or None when the output is not that list (the profile is not running)."""
    if "<profile" not in xml_text:
        return None
    return frozenset(a or b for a, b in _USER.findall(xml_text))


_SUBCLASSES = frozenset(name.partition(" ")[2] for name in REGISTRATION_EVENTS)


def registration_device(event: Event) -> str | None:
    """The SIP user name a registration event is about (`sofia::expire` names it
    `user`, the others `username`), or None for any other event."""
    if event.name != "CUSTOM" or event.subclass not in _SUBCLASSES:
        return None
    return event.get("username") or event.get("from-user") or event.get("user") or None
