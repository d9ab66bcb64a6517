"""Names shared by the rendered FreeSWITCH config and whoever drives it, defined once.

Contexts follow the Asterisk scheme (`telephony.asterisk.names`): one prefix per kind
of per-id context, none a prefix of another, so any set of valid ids renders to
unique names. Ids are `[a-z0-9_-]{1,40}` and numbers `+?[0-9]{1,20}`: neither needs
escaping in a context name, a queue or agent name, a mod_db realm or key, or a
dial string.

What the engine keeps in FreeSWITCH lives in mod_db (sqlite under the state
directory, so it survives a restart): a neutral `Key(family, parts)` is realm
`telephony_<family>` and key `<parts joined by ".">`. The dialplan reads two realms
and writes one:

- `telephony_focus` `<agent>` = focus end (Unix seconds, `0` until turned off)
- `telephony_case` `<caller number>` = the agent who owns the caller's case
- `telephony_away` `<agent>` = why the agent is away (the engine's alone)
- `telephony_callback` `<queue>.<caller number>` = when the caller joined the skill
  queue (Unix seconds): a caller who pressed the callback key, listed in the mod_db
  group `telephony_callback.<queue>`
"""

from __future__ import annotations

from telephony.config.models import Agent, Site, Trunk
from telephony.port.model import Family, Key

# Per-id contexts: prefix + id. Pairwise, none is a prefix of another.
AGENT = "tel-agent-"
TRY_AGENT = "tel-try-agent-"
TRY_HUNT = "tel-try-hunt-"
TRY_QUEUE = "tel-try-queue-"
CALLBACK = "tel-callback-"
PER_ID_PREFIXES = (AGENT, TRY_AGENT, TRY_HUNT, TRY_QUEUE, CALLBACK)

# Where authenticated devices land (the directory's user_context), where calls from
# a trunk's address land (the SIP profile's context), and the numbers both reach.
FROM_INTERNAL = "tel-from-internal"
FROM_TRUNK = "tel-from-trunk"
NUMBERS = "tel-numbers"
# Where a fallback chain ends: busy (486) after a busy answer, else unavailable (480).
END = "tel-end"
FIXED_CONTEXTS = (FROM_INTERNAL, FROM_TRUNK, NUMBERS, END)

# The one SIP profile, and the ACL that recognises trunks by address.
PROFILE = "telephony"
TRUNK_ACL = "tel-trunks"

# mod_voicemail's profile (voicemail.conf.xml ships one named "default").
VOICEMAIL_PROFILE = "default"

REALM_PREFIX = "telephony_"
FOCUS_REALM = REALM_PREFIX + Family.FOCUS.value
CASE_REALM = REALM_PREFIX + Family.CASE.value
# Read and written by the engine alone: `<agent>` = the reason the agent is away.
AWAY_REALM = REALM_PREFIX + Family.AWAY.value
# Written by the dialplan: `<queue>.<caller number>` = when the caller joined.
CALLBACK_REALM = REALM_PREFIX + Family.CALLBACK.value
# Every writer of the realms above stamps this key with a new token after a change, so
# a reader reads everything again only when someone else wrote.
META_REALM = REALM_PREFIX + "meta"
VERSION_KEY = "version"


def domain(site: Site) -> str:
    """The directory domain of the site's devices (every REGISTER and call is forced
    into it, whatever host the phone puts in its From)."""
    return site.site


def mailbox_domain(site: Site) -> str:
    """The directory domain holding the mailboxes, apart from the devices'.

    mod_voicemail wants a directory user per mailbox, and mod_sofia lets anyone in as
    a user that has no password. Mailboxes therefore live in a domain no SIP request
    is ever authenticated against (the profile forces every one into `domain(site)`);
    a site id has no ".", so the name cannot be another site's device domain.
    """
    return f"mailboxes.{site.site}"


def agent_context(agent_id: str) -> str:
    """Where a call moved to the agent goes (s through the focus gate, ring past it)."""
    return AGENT + agent_id


def try_agent_context(agent_id: str) -> str:
    """The agent as a colleague's fallback step (run with execute_extension)."""
    return TRY_AGENT + agent_id


def try_hunt_context(group_id: str) -> str:
    return TRY_HUNT + group_id


def try_queue_context(queue_id: str) -> str:
    return TRY_QUEUE + queue_id


def callback_context(queue_id: str) -> str:
    """Where a caller who left a skill queue goes first: a callback request is stored
    there when they left with the callback key (run with execute_extension)."""
    return CALLBACK + queue_id


def callback_group(queue_id: str) -> str:
    """The mod_db group listing the caller numbers with a callback request in a skill
    queue: mod_db cannot list a realm, so this is how the port finds them."""
    return f"{CALLBACK_REALM}.{queue_id}"


def queue_name(queue_id: str) -> str:
    """The mod_callcenter queue of a hunt group or skill queue (ids are unique across
    both)."""
    return queue_id


def agent_name(agent_id: str) -> str:
    """The mod_callcenter agent of a site agent."""
    return agent_id


def dial_string(agent: Agent, site: Site) -> str:
    """The bridge target that rings every device of an agent at once (`,` = together);
    an unregistered device fails at once without holding up the others."""
    return ",".join(f"user/{device.id}@{domain(site)}" for device in agent.devices)


def presence_id(agent: Agent, site: Site) -> str:
    """What every leg of the agent's devices is, to presence: the agent's extension, so
    the phones subscribed to it follow the agent on any device."""
    return f"{agent.extension}@{domain(site)}"


def device_dial_string(agent: Agent, site: Site) -> str:
    """The directory's dial-string of one of the agent's devices (`user/<device>` rings
    it): its registered contact, in the site's domain, with the agent's presence id."""
    return (
        f"{{^^:sip_invite_domain=${{dialed_domain}}:presence_id={presence_id(agent, site)}}}"
        f"${{sofia_contact({PROFILE}/${{dialed_user}}@${{dialed_domain}})}}"
    )


# The CUSTOM event a phone key raises (the dialplan's `event`), for the port.
KEY_EVENT = "telephony::key"


def feature_code(code: str, agent: Agent) -> str:
    """The number a phone key dials and watches: the site's code and the agent's own
    extension (`*501001`), so one BLF key both toggles and lights."""
    return f"{code}{agent.extension}"


def trunk_dial_string(trunk: Trunk, number: str) -> str:
    """The bridge target that calls a number out through a trunk: straight to the
    trunk's far end (`dial_host:dial_port`) from the site's one profile."""
    host = trunk.dial_host or ""
    shown = f"[{host}]" if ":" in host else host
    return f"sofia/{PROFILE}/{number}@{shown}:{trunk.dial_port}"


def location(key: Key) -> tuple[str, str]:
    """(mod_db realm, key) of a neutral key."""
    return REALM_PREFIX + key.family.value, ".".join(key.parts)


_FAMILIES = {f.value: f for f in Family}


def key_of(realm: str, key: str) -> Key | None:
    """The neutral key at a mod_db realm and key, or None for anything not ours."""
    family = _FAMILIES.get(realm.removeprefix(REALM_PREFIX)) if realm.startswith(
        REALM_PREFIX) else None
    parts = tuple(key.split("."))
    if family is None or not all(parts):
        return None
    return Key(family, parts)
