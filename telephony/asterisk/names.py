"""Names shared by the rendered dialplan and the engine, defined once.

Every generated name stays unique for any set of valid ids (`[a-z0-9_-]{1,40}`,
unique across kinds):

* Each kind of per-id context has its own prefix, no prefix is a prefix of another,
  and no fixed context starts with one. (`tel-try-` once was a prefix of
  `tel-try-hunt-`, so an agent `hunt-x` and a hunt group `x` shared a context.)
* Extension names are never made from ids: Asterisk ignores `-` in extension names and
  reads a leading `_` as a pattern, so agents `a-b` and `ab` would be one extension and
  `_x` would match every digit. An agent is addressed by their extension number
  instead, which is unique and has no such characters.
* Ids that name one of Asterisk's own sections are refused by `telephony check`
  (`telephony.config.checks.RESERVED_IDS`).
"""

from __future__ import annotations

from telephony.config.models import Agent, Trunk

# Per-id contexts: prefix + id. Pairwise, none is a prefix of another.
AGENT = "tel-agent-"
TRY_AGENT = "tel-try-agent-"
ALLOW = "tel-allow-"
HUNT = "tel-hunt-"
TRY_HUNT = "tel-try-hunt-"
QUEUE = "tel-queue-"
TRY_QUEUE = "tel-try-queue-"
CALLBACK = "tel-callback-"
PER_ID_PREFIXES = (AGENT, TRY_AGENT, ALLOW, HUNT, TRY_HUNT, QUEUE, TRY_QUEUE, CALLBACK)

# queuerules.conf: a skill queue's ring levels (penalty rules), one rule per queue.
LEVELS_RULE = "tel-levels-"

FROM_INTERNAL = "tel-from-internal"
FROM_TRUNK = "tel-from-trunk"
NUMBERS = "tel-numbers"
URGENT = "tel-urgent"
MEMBER = "tel-member"
STATE = "tel-state"
HINTS = "tel-hints"
# Where an originated call goes once the agent answered: dial a number out through a
# trunk (callbacks). Reached only by AMI Originate, never from a phone's context.
DIAL_OUT = "tel-dial-out"
# Run on the called-back caller's channel when they answer (Dial's U()): the request
# is served, so it is deleted.
DIAL_ANSWERED = "tel-dial-answered"
# Phone feature codes: reached from our phones only (see `feature_code`).
KEYS = "tel-keys"
FIXED_CONTEXTS = (
    FROM_INTERNAL, FROM_TRUNK, NUMBERS, URGENT, MEMBER, STATE, HINTS, DIAL_OUT, DIAL_ANSWERED,
    KEYS,
)

# pjsip.conf: the one transport, next to the device and trunk sections.
TRANSPORT = "tel-udp"

# Presence: Custom device states and CustomPresence providers the engine sets (AMI
# Setvar of DEVICE_STATE()/PRESENCE_STATE()), kept by Asterisk in AstDB across restarts.
# Pairwise, no prefix is a prefix of another, so agent ids never make one name twice.
AGENT_STATE = "tel-agent-"
DUTY_LAMP = "tel-duty-"
FOCUS_LAMP = "tel-focus-"
PRESENCE_PREFIXES = (AGENT_STATE, DUTY_LAMP, FOCUS_LAMP)

# The UserEvent a phone key raises (extensions.conf) and the port turns into a change.
KEY_EVENT = "TelephonyKey"

# pjsip.conf resource lists (RFC 4662), by event: the whole site, and `<prefix><group>`
# per hunt group. A list's name is what a phone subscribes to.
DIALOG_LIST = "tel-blf"
PRESENCE_LIST = "tel-presence"

# The voicemail.conf context holding every mailbox (agents', hunt groups' and queues').
MAILBOX_CONTEXT = "telephony"


def agent_context(agent_id: str) -> str:
    """Where a call to the agent's extension or direct line goes."""
    return AGENT + agent_id


def try_agent_context(agent_id: str) -> str:
    """The agent as a colleague's fallback step (a Gosub that returns)."""
    return TRY_AGENT + agent_id


def allow_context(agent_id: str) -> str:
    """The callers who reach the agent in focus (one extension per number)."""
    return ALLOW + agent_id


def hunt_context(group_id: str) -> str:
    return HUNT + group_id


def try_hunt_context(group_id: str) -> str:
    return TRY_HUNT + group_id


def queue_context(queue_id: str) -> str:
    return QUEUE + queue_id


def try_queue_context(queue_id: str) -> str:
    return TRY_QUEUE + queue_id


def callback_context(queue_id: str) -> str:
    """Where app_queue sends a caller who pressed the skill queue's callback key (the
    queue's `context=`: the key is a one-digit extension there)."""
    return CALLBACK + queue_id


def levels_rule(queue_id: str) -> str:
    """The queuerules.conf rule that lets a skill queue's next level join the ringing
    every `level_wait` seconds."""
    return LEVELS_RULE + queue_id


def member_interface(agent: Agent) -> str:
    """The queue member interface the engine adds for an agent.

    One device is dialled directly; several need a Local channel that rings them all
    at once. The Local channel costs about 0.2 ms of call setup (bench/), so it is
    used only where it is needed.
    """
    if len(agent.devices) == 1:
        return f"PJSIP/{agent.devices[0].id}"
    return f"Local/{agent.extension}@{MEMBER}/n"


def state_interface(agent: Agent) -> str:
    """The queue state interface: a hint over all of the agent's devices."""
    return f"hint:{agent.extension}@{STATE}"


def mailbox(owner_id: str) -> str:
    """The voicemail box of an agent, hunt group or skill queue, as VoiceMail() names it.

    Mailbox names are compared literally (no `-` or pattern rules) and ids are unique
    across agents, hunt groups and queues, so the id is the mailbox.
    """
    return f"{owner_id}@{MAILBOX_CONTEXT}"


def trunk_contact(trunk: Trunk) -> str:
    """The SIP URI of a trunk's far end (its AOR contact), where calls out go."""
    host = trunk.dial_host or ""
    shown = f"[{host}]" if ":" in host else host
    return f"sip:{shown}:{trunk.dial_port}"


def dial_out(number: str, trunk: Trunk) -> str:
    """The Dial() target that calls a number through a trunk (the trunk's endpoint and
    AOR share its id; PJSIP puts the number in the contact's user part)."""
    return f"PJSIP/{number}@{trunk.id}"


def agent_device(agent_id: str) -> str:
    """The Custom device state that joins an agent's devices in their hint: BUSY while
    the engine publishes them in focus or away, UNAVAILABLE otherwise (the lowest state
    but one when Asterisk adds up a hint, so the devices decide)."""
    return f"Custom:{AGENT_STATE}{agent_id}"


def agent_presence(agent_id: str) -> str:
    """The CustomPresence provider of an agent's hint: the state and its note."""
    return f"CustomPresence:{AGENT_STATE}{agent_id}"


def duty_lamp(agent_id: str) -> str:
    """The Custom device state of the agent's duty key: INUSE while on hunt-group duty."""
    return f"Custom:{DUTY_LAMP}{agent_id}"


def focus_lamp(agent_id: str) -> str:
    """The Custom device state of the agent's focus key: INUSE while in focus."""
    return f"Custom:{FOCUS_LAMP}{agent_id}"


def feature_code(code: str, agent: Agent) -> str:
    """The number a phone key dials and watches: the site's code and the agent's own
    extension (`*501001`), so a BLF key both toggles and lights."""
    return f"{code}{agent.extension}"


def dialog_list(group_id: str | None = None) -> str:
    """The resource list of a hunt group's rostered agents (or of every agent) for BLF."""
    return DIALOG_LIST if group_id is None else f"{DIALOG_LIST}-{group_id}"


def presence_list(group_id: str | None = None) -> str:
    """The resource list of a hunt group's rostered agents (or of every agent), PIDF."""
    return PRESENCE_LIST if group_id is None else f"{PRESENCE_LIST}-{group_id}"
