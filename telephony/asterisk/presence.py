"""Agents' presence on Asterisk: what the engine publishes, and what the phones do.

Publishing (`lamp_setvars`, then `note_setvar`): each agent's hint in `tel-hints` joins
their devices with a Custom device state and carries a CustomPresence provider (see
extensions.conf). The port sets them with AMI `Setvar` of `DEVICE_STATE(Custom:...)`:
BUSY in focus or away, so a BLF lamp reads busy whatever the devices do; UNAVAILABLE
otherwise, the lowest state but one when Asterisk adds up a hint, so the devices decide
(ringing, in use, unregistered). The duty and focus keys' lamps follow when the published
state shows them; ringing, on a call and wrap-up hide both, and leave them as they are.
`PRESENCE_STATE(CustomPresence:...)` (the note) goes after the lamps, not with them:
Asterisk notifies every watcher of the hint of a presence change too, dialog-info lamps
included, so sent together the two fan-outs would share the PBX and the lamps be later.

Reading (`phone_state`): the agent's queue state hint in `tel-state` has their devices
alone, so its extension state is what the devices do, whatever the engine publishes.
"""

from __future__ import annotations

import base64

from telephony.asterisk import names
from telephony.asterisk.ami.events import ExtensionStatus
from telephony.port import MemberState, Presence, Publish

# What the agent's Custom device state is for each published state.
_DEVICE = {
    Presence.FOCUS: "BUSY",
    Presence.AWAY: "BUSY",
}
_NEUTRAL = "UNAVAILABLE"

# CustomPresence states (available, unavailable, away, xa, chat, dnd).
_PRESENCE = {
    Presence.OFFLINE: "unavailable",
    Presence.AWAY: "away",
    Presence.FOCUS: "dnd",
}
_PRESENT = "available"

# The published states that show whether the agent is on duty / in focus; the others
# (ringing, on a call, wrap-up) hide it.
_DUTY = {
    Presence.ON_DUTY: True,
    Presence.AVAILABLE: False,
    Presence.AWAY: False,
    Presence.FOCUS: False,
    Presence.OFFLINE: False,
}
_FOCUS = {
    Presence.FOCUS: True,
    Presence.AVAILABLE: False,
    Presence.ON_DUTY: False,
    Presence.AWAY: False,
    Presence.OFFLINE: False,
}


def presence_value(presence: Presence, note: str) -> str:
    """A PRESENCE_STATE() value: `state,subtype,message,e`, subtype and message in base64
    (option e), so a note may hold commas and any text."""
    encoded = base64.b64encode(note.encode()).decode()
    return f"{_PRESENCE.get(presence, _PRESENT)},,{encoded},e"


def setvars(command: Publish) -> list[dict[str, str]]:
    """The Setvar actions' headers that publish one agent's state: the lamps, then the
    note."""
    return [*lamp_setvars(command), note_setvar(command)]


def note_setvar(command: Publish) -> dict[str, str]:
    """The Setvar headers of the agent's CustomPresence: state and note."""
    return {"Variable": f"PRESENCE_STATE({names.agent_presence(command.agent)})",
            "Value": presence_value(command.presence, command.note)}


def lamp_setvars(command: Publish) -> list[dict[str, str]]:
    """The Setvar actions' headers of the agent's lamps: their hint's Custom device state
    and, when the state shows them, the duty and focus keys'."""
    agent = command.agent
    actions = [
        {"Variable": f"DEVICE_STATE({names.agent_device(agent)})",
         "Value": _DEVICE.get(command.presence, _NEUTRAL)},
    ]
    duty = _DUTY.get(command.presence)
    if duty is not None:
        actions.append({"Variable": f"DEVICE_STATE({names.duty_lamp(agent)})",
                        "Value": "INUSE" if duty else "NOT_INUSE"})
    focus = _FOCUS.get(command.presence)
    if focus is not None:
        actions.append({"Variable": f"DEVICE_STATE({names.focus_lamp(agent)})",
                        "Value": "INUSE" if focus else "NOT_INUSE"})
    return actions


# Extension states (AST_EXTENSION_* bits): in use 1, busy 2, unavailable 4, ringing 8,
# on hold 16; -1/-2 for a removed hint.
_IN_CALL = 1 | 2 | 16
_RINGING = 8
_UNAVAILABLE = 4


def member_state(status: int) -> MemberState:
    """What a queue state hint's extension state says the devices do (the busiest)."""
    if status < 0:
        return MemberState.UNKNOWN
    if status & _IN_CALL:
        return MemberState.ON_CALL
    if status & _RINGING:
        return MemberState.RINGING
    if status & _UNAVAILABLE:
        return MemberState.UNAVAILABLE
    return MemberState.IDLE


def phone_state(
    event: ExtensionStatus, agents_by_extension: dict[str, str]
) -> tuple[str, MemberState] | None:
    """(agent, state) from an ExtensionStatus of an agent's queue state hint, or None
    for any other hint."""
    if event.context != names.STATE:
        return None
    agent = agents_by_extension.get(event.exten)
    if agent is None:
        return None
    return agent, member_state(event.status)
