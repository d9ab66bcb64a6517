"""Presence on FreeSWITCH: what an agent's extension shows to the phones subscribed to it.

mod_sofia keeps the subscriptions (`manage-presence`) and sends every NOTIFY itself, from
PRESENCE_IN events about `<user>@<host>`: PIDF to `presence` subscribers, dialog-info
to `dialog` ones (BLF lamps). It has no RFC 4662 resource lists: a phone subscribes to
each extension on its own. Three sources feed the events of an agent's extension:

- The agent's devices. Every leg the dialplan, mod_callcenter or a callback rings on a
  device carries `presence_id=<extension>@<domain>` (the device's dial-string in the
  directory), and so does a call the device makes (the directory variable): FreeSWITCH
  publishes their ringing and calls on the extension itself, from any of the agent's
  devices, with no engine in between.
- The engine's `Publish`, sent as PRESENCE_IN through the Event Socket: the note in
  words as the PIDF status (basic open, `rpid busy` for focus and away, or FreeSWITCH's
  own `Unregistered`, basic closed, for an agent with no device registered), and for
  the lamp of focus and away a confirmed dialog of our own (`tel-lamp-<agent>`), an
  empty dialog list when the agent leaves it. Ringing and calls are left to the devices:
  a publication never turns off a lamp a device lit. The phone keys' lamps (the duty
  and focus feature codes before the agent's extension) follow the published state
  as on Asterisk: lit on duty / in focus, put out by available, away and offline, left
  as they are while ringing, on a call or in wrap-up.
- The port's answers to a new subscription (PRESENCE_PROBE): mod_sofia answers one from
  its own tables, which know no engine state (an extension is no registered user), so
  the port sends the new subscriber, alone (its Call-ID), the last publication and
  what the devices do now; a PRESENCE_IN FreeSWITCH raises about the extension by
  itself (its "Unregistered" for a user nobody registers as) is followed by the last
  publication again, to everyone.
- After FreeSWITCH restarted (the connection came back), everything last published is
  sent again once the profile runs (`sofia::profile_start`): mod_sofia keeps the
  subscriptions in its database, but not what it last told them, and a call that died
  with it never said goodbye.

What the devices do (`Snapshot.phones`, PHONE_STATE changes) is read from the same
PRESENCE_IN events the device legs raise (narrower than every CHANNEL_* event of the
switch), seeded from `show channels` once per connection (that table lags a call by up
to a second, the events do not) and checked with `uuid_exists` on every full read, so
a hangup missed in a reconnect does not leave a phone busy.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from telephony.config.models import Site
from telephony.freeswitch import names
from telephony.freeswitch.esl import (
    ClientEvent,
    EslClient,
    EslConnectionError,
    EslError,
    EslTimeout,
    Event,
    Reconnected,
    Subscription,
)
from telephony.port import (
    Change,
    ChangeKind,
    MemberState,
    PbxPortError,
    PbxRefused,
    PbxUnavailable,
    Presence,
)

log = logging.getLogger(__name__)

PRESENCE_IN = "PRESENCE_IN"

REST_AFTER = 0.1
"""Seconds from a publication's lamp event to the rest of it (the PIDF note, the key
lamps): time for mod_sofia to notify a few hundred lamp watchers (about 20 ms for 200
here) before it goes through its subscriptions again for the next event."""
PRESENCE_PROBE = "PRESENCE_PROBE"
# mod_sofia started a profile (after a restart, once its subscriptions are back).
PROFILE_START = "CUSTOM sofia::profile_start"
PRESENCE_EVENTS = (PRESENCE_IN, PRESENCE_PROBE, PROFILE_START)

# A header on every event the port sends, so it knows its own when they come back.
MARK = "tel-published"
# The ids of our dialogs: an agent's lamp for focus or away, their duty and focus keys.
LAMP_PREFIX = "tel-lamp-"
KEY_PREFIX = {"duty": "tel-duty-", "focus": "tel-focus-"}

# States whose lamp is the engine's (busy), and those the devices light themselves.
BUSY = frozenset({Presence.FOCUS, Presence.AWAY})
DEVICES = frozenset({Presence.RINGING, Presence.ON_CALL})

# What PIDF watchers see besides the note (mod_sofia: `<rpid:busy/>`, no activity for
# "unknown"; the status "Unregistered" makes the PIDF basic closed).
_RPID = {
    Presence.FOCUS: "busy",
    Presence.AWAY: "busy",
    Presence.RINGING: "on-the-phone",
    Presence.ON_CALL: "on-the-phone",
}
OFFLINE_STATUS = "Unregistered"

# The published states that show whether the agent is on duty / in focus (the keys'
# lamps); ringing, a call and wrap-up hide it.
KEY_SHOWN = {
    "duty": {Presence.ON_DUTY: True, Presence.AVAILABLE: False, Presence.AWAY: False,
             Presence.FOCUS: False, Presence.OFFLINE: False},
    "focus": {Presence.FOCUS: True, Presence.AVAILABLE: False, Presence.ON_DUTY: False,
              Presence.AWAY: False, Presence.OFFLINE: False},
}

# Channel call states (`Channel-Call-State`, `show channels` callstate) in neutral words.
_RINGING_STATES = frozenset({"DOWN", "DIALING", "RINGING", "EARLY", "RING_WAIT"})
_CALL_STATES = frozenset({"ACTIVE", "HELD"})
_GONE_CHANNEL_STATES = frozenset({"CS_HANGUP", "CS_REPORTING", "CS_DESTROY"})
# How many hung-up channels are remembered, so a lagging `show channels` cannot bring
# one back.
_GONE_KEPT = 512

_BUSIEST = (MemberState.ON_CALL, MemberState.RINGING)


def note_text(note: str) -> str:
    """A note as mod_sofia may put it in its PIDF: it copies the status into the XML as it
    is, under an ISO-8859-1 declaration, so markup is escaped and anything beyond ASCII
    is a character reference (right in any encoding)."""
    out = []
    for ch in note:
        if ch == "&":
            out.append("&amp;")
        elif ch == "<":
            out.append("&lt;")
        elif ch == ">":
            out.append("&gt;")
        elif ord(ch) > 126 or ord(ch) < 32:
            out.append(f"&#{ord(ch)};" if ord(ch) >= 32 else " ")
        else:
            out.append(ch)
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Leg:
    """One channel on an agent's device, as its presence events tell."""

    agent: str
    state: MemberState
    direction: str  # FreeSWITCH's: outbound rings the device, inbound is a call it made
    other: str = ""  # the other party's number, for a lamp's remote identity


def leg_state(call_state: str, direction: str) -> MemberState | None:
    """A device leg's state from its call state (None: not a live call). A call the
    device makes is a call from the first moment: the phone is off the hook."""
    call_state = call_state.upper()
    if call_state in _CALL_STATES:
        return MemberState.ON_CALL
    if call_state in _RINGING_STATES:
        return MemberState.ON_CALL if direction == "inbound" else MemberState.RINGING
    return None


def busiest(states: Iterable[MemberState]) -> MemberState | None:
    found = set(states)
    for state in _BUSIEST:
        if state in found:
            return state
    return None


class Phones:
    """What each agent's devices do, from the presence events of their legs."""

    def __init__(self, site: Site) -> None:
        self.domain = names.domain(site)
        self.agents = [a.id for a in site.agents]
        # The presence user of a leg: the agent's extension (older legs: the device id).
        self._agent_of: dict[str, str] = {d.id: a.id for a in site.agents for d in a.devices}
        self._agent_of.update({a.extension: a.id for a in site.agents})
        self.legs: dict[str, Leg] = {}
        self._gone: dict[str, None] = {}  # insertion-ordered set
        self.seeded = False

    def agent_of(self, presence_id: str) -> str | None:
        """The agent whose extension (or device) a presence id names, or None."""
        user, _, host = presence_id.partition("@")
        return self._agent_of.get(user) if host == self.domain else None

    def state(self, agent: str) -> MemberState | None:
        """The busiest of the agent's legs, None when there is none."""
        return busiest(leg.state for leg in self.legs.values() if leg.agent == agent)

    def busiest_leg(self, agent: str) -> tuple[str, Leg] | None:
        mine = [(uuid, leg) for uuid, leg in self.legs.items() if leg.agent == agent]
        mine.sort(key=lambda item: _BUSIEST.index(item[1].state))
        return mine[0] if mine else None

    def heard(self, event: Event) -> str | None:
        """Take a PRESENCE_IN of a channel in; the agent whose phones changed, or None.

        Only events with the channel's own data count (`Channel-Call-State`): mod_sofia
        also raises PRESENCE_IN about dialogs it remembers, and the port its own.
        """
        uuid = event.get("Unique-ID")
        call_state = event.get("Channel-Call-State")
        if not uuid or call_state is None or event.get(MARK) is not None:
            return None
        agent = self.agent_of(event.get("from") or "")
        if agent is None:
            return None
        before = self.state(agent)
        gone = (
            (event.get("Channel-State") or "") in _GONE_CHANNEL_STATES
            or (event.get("Answer-State") or "") == "hangup"
        )
        direction = event.get("Call-Direction") or event.get("Presence-Call-Direction") or ""
        # The answer's own event may still carry the call state it had before.
        answered = (event.get("Answer-State") or "") == "answered"
        state = None if gone else (
            MemberState.ON_CALL if answered else leg_state(call_state, direction))
        if state is None:
            self.forget(uuid)
        else:
            other = (event.get("Caller-Caller-ID-Number") if direction == "outbound"
                     else event.get("Caller-Destination-Number")) or ""
            self.legs[uuid] = Leg(agent, state, direction, other)
        return agent if self.state(agent) != before else None

    def forget(self, uuid: str) -> None:
        self.legs.pop(uuid, None)
        self._gone[uuid] = None
        while len(self._gone) > _GONE_KEPT:
            del self._gone[next(iter(self._gone))]

    def seed(self, rows: Iterable[Mapping[str, str]]) -> set[str]:
        """Add the device legs a `show channels` listing shows that no event told of yet;
        the agents whose phones changed."""
        changed: set[str] = set()
        for row in rows:
            uuid = row.get("uuid", "")
            agent = self.agent_of(row.get("presence_id", ""))
            if not uuid or agent is None or uuid in self.legs or uuid in self._gone:
                continue
            direction = row.get("direction", "")
            state = leg_state(row.get("callstate", ""), direction)
            if state is not None:
                before = self.state(agent)
                other = row.get("cid_num", "") if direction == "outbound" else row.get("dest", "")
                self.legs[uuid] = Leg(agent, state, direction, other)
                if self.state(agent) != before:
                    changed.add(agent)
        self.seeded = True
        return changed

    def clear(self) -> None:
        """The connection was lost: what the legs did since is unknown."""
        self.legs.clear()
        self.seeded = False

    def snapshot(self, registered: frozenset[str] | None) -> dict[str, MemberState]:
        """Every agent's phones: the busiest leg, else idle with a device registered
        (or when that is unknown), else unavailable."""
        out: dict[str, MemberState] = {}
        for agent in self.agents:
            state = self.state(agent)
            if state is None:
                reachable = registered is None or agent in registered
                state = MemberState.IDLE if reachable else MemberState.UNAVAILABLE
            out[agent] = state
        return out


def show_channels_rows(text: str) -> list[dict[str, str]]:
    """The rows of `show channels as json` (none for an empty or unreadable answer)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return []
    found = data.get("rows", []) if isinstance(data, dict) else []
    return [
        {str(k): "" if v is None else str(v) for k, v in row.items()}
        for row in found if isinstance(row, dict)
    ]


# -- what the port sends


Headers = tuple[tuple[str, str], ...]


def _base(agent: str, extension: str, domain: str, call_id: str | None) -> list[tuple[str, str]]:
    headers = [
        ("proto", "sip"),
        ("from", f"{extension}@{domain}"),
        ("login", names.PROFILE),
        (MARK, agent),
    ]
    if call_id:
        headers.append(("call-id", call_id))  # that subscription alone
    return headers


def pidf_headers(
    publish_presence: Presence, note: str, agent: str, extension: str, domain: str,
    call_id: str | None = None,
) -> Headers:
    """A PRESENCE_IN for the PIDF watchers of an extension (not the lamps)."""
    if publish_presence is Presence.OFFLINE:
        status, rpid = OFFLINE_STATUS, "unknown"
    else:
        status, rpid = note_text(note), _RPID.get(publish_presence, "unknown")
    return (
        *_base(agent, extension, domain, call_id),
        ("status", status),
        ("rpid", rpid),
        ("event_type", "presence"),
        ("alt_event_type", "presence"),
    )


def lamp_headers(
    busy: bool, agent: str, extension: str, domain: str, *, why: str = "",
    call_id: str | None = None, lamp_id: str = "",
) -> Headers:
    """A PRESENCE_IN for the lamps (dialog-info watchers) of an extension (or a key):
    busy is one confirmed dialog of our own (`lamp_id`; `why`, a word, shows as its
    remote party), idle an empty dialog list (mod_sofia sends dialog-info with state
    "full" either way)."""
    headers = _base(agent, extension, domain, call_id)
    headers += [("event_type", "dialog"), ("alt_event_type", "dialog")]
    if busy:
        headers += [
            ("unique-id", lamp_id or LAMP_PREFIX + agent),
            ("answer-state", "confirmed"),
            ("presence-call-direction", "inbound"),
            ("caller-username", extension),  # the agent started it: direction initiator
            ("Caller-Destination-Number", why or "busy"),
            ("rpid", "busy"),
        ]
    return tuple(headers)


def leg_headers(
    uuid: str, leg: Leg, agent: str, extension: str, domain: str, call_id: str,
) -> Headers:
    """A PRESENCE_IN showing one live device leg to one new lamp subscriber."""
    answer = "confirmed" if leg.state is MemberState.ON_CALL else "early"
    headers = [
        *_base(agent, extension, domain, call_id),
        ("event_type", "dialog"),
        ("alt_event_type", "dialog"),
        ("unique-id", uuid),
        ("answer-state", answer),
        ("presence-call-direction", leg.direction or "outbound"),
    ]
    if leg.direction == "inbound":  # a call the device made: the agent is its initiator
        headers += [("caller-username", extension),
                    ("Caller-Destination-Number", leg.other or extension)]
    else:
        headers.append(("Caller-Caller-ID-Number", leg.other or extension))
    return tuple(headers)


@dataclass(frozen=True, slots=True)
class Shown:
    """The last publication of an agent, as the port holds it to answer new watchers."""

    presence: Presence
    note: str


class PresencePublisher:
    """Publishes agents' states on their extensions and follows what their devices do,
    over one Event Socket client (which must ask for PRESENCE_IN and PRESENCE_PROBE)."""

    def __init__(self, client: EslClient, site: Site) -> None:
        self.client = client
        self.site = site
        self.domain = names.domain(site)
        self.phones = Phones(site)
        self._extension = {a.id: a.extension for a in site.agents}
        self._agent_of_extension = {a.extension: a.id for a in site.agents}
        # The phone keys' numbers: (agent, "duty" | "focus") by number, and back.
        self._key_of: dict[str, tuple[str, str]] = {}
        for a in site.agents:
            if any(a.id in g.roster for g in site.hunt_groups):
                self._key_of[names.feature_code(site.pbx.duty_code, a)] = (a.id, "duty")
            self._key_of[names.feature_code(site.pbx.focus_code, a)] = (a.id, "focus")
        self._key_number = {v: k for k, v in self._key_of.items()}
        self._shown: dict[str, Shown] = {}
        # What the lamps of each extension or key show from us: True busy, False idle;
        # absent: unknown (a device lit or put out the lamp since, FreeSWITCH restarted).
        self._lamps: dict[str, bool] = {}
        # What each key's lamp should show (kept across a restart, unlike `_lamps`).
        self._keys_on: dict[str, bool] = {}
        self._listeners: list[Callable[[Change], None]] = []
        self._rest: dict[str, asyncio.Task[None]] = {}  # agent -> their note on its way
        self.rest_after = REST_AFTER
        heard = set(PRESENCE_EVENTS) <= client.events or "ALL" in client.events
        self.enabled = heard
        self._sub: Subscription | None = client.subscribe(
            self._on_event, names=[*PRESENCE_EVENTS, "Reconnected"]
        ) if heard else None

    def __repr__(self) -> str:
        return f"<PresencePublisher legs={len(self.phones.legs)} shown={len(self._shown)}>"

    # -- listeners (the port's watches)

    def listen(self, on_change: Callable[[Change], None]) -> Callable[[], None]:
        """Call `on_change` with a PHONE_STATE change whenever an agent's phones change;
        returns the function that stops it."""
        self._listeners.append(on_change)

        def stop() -> None:
            if on_change in self._listeners:
                self._listeners.remove(on_change)

        return stop

    def _changed(self, agents: Iterable[str]) -> None:
        for agent in sorted(agents):
            # A device lit or put out the lamp: ours is no longer what it shows.
            self._lamps.pop(self._extension[agent], None)
            change = Change(ChangeKind.PHONE_STATE, agent=agent,
                            state=self.phones.state(agent) or MemberState.IDLE)
            for listener in list(self._listeners):
                listener(change)

    # -- events

    async def _on_event(self, event: ClientEvent) -> None:
        if isinstance(event, Reconnected):
            # FreeSWITCH may have restarted: calls and lamps are unknown until read, and
            # what we showed is shown again once the profile runs (now, or at its start).
            self.phones.clear()
            self._lamps.clear()
            if await self._profile_running():
                await self._republish()
            return
        if not isinstance(event, Event):
            return
        if event.key == PROFILE_START:
            if (event.get("profile_name") or names.PROFILE) == names.PROFILE:
                self._lamps.clear()
                await self._republish()
        elif event.name == PRESENCE_IN:
            agent = self.phones.heard(event)
            if agent is not None:
                self._changed([agent])
            else:
                user = self._foreign(event)
                if user is not None:
                    await self._reassert(user)
        elif event.name == PRESENCE_PROBE:
            await self._answer_probe(event)

    def _user(self, address: str) -> str | None:
        """The extension or key number an address of the site's domain names, if ours."""
        user, _, host = address.partition("@")
        if host != self.domain:
            return None
        for candidate in (user, user.partition("+")[2]):  # a proto prefix: sip+1001
            if candidate in self._agent_of_extension or candidate in self._key_of:
                return candidate
        return None

    def _foreign(self, event: Event) -> str | None:
        """The extension or key a PRESENCE_IN FreeSWITCH raised by itself is about (no
        channel, not ours), or None."""
        if event.get(MARK) is not None or event.get("Unique-ID"):
            return None
        return self._user(event.get("from") or "")

    async def _profile_running(self) -> bool:
        try:
            return "<profile" in await self._api(f"sofia xmlstatus profile {names.PROFILE}")
        except (PbxUnavailable, PbxRefused):
            return False

    async def _republish(self) -> None:
        """Everything last published shown again (FreeSWITCH restarted)."""
        try:
            for agent, shown in sorted(self._shown.items()):
                await self._send(agent, shown)
            for number, on in sorted(self._keys_on.items()):
                agent, kind = self._key_of[number]
                await self._send_key(agent, kind, on)
        except (PbxUnavailable, PbxRefused) as exc:
            log.warning("presence not shown again after a restart: %s", exc)

    async def _reassert(self, user: str) -> None:
        # It went to every watcher of the extension, lamps too (as an empty dialog list).
        lamp = self._lamps.pop(user, None)
        try:
            if user in self._key_of:
                agent, kind = self._key_of[user]
                if lamp is not None:
                    await self._send_key(agent, kind, lamp)
                return
            agent = self._agent_of_extension[user]
            shown = self._shown.get(agent)
            if shown is not None:
                await self._send(agent, shown)
        except (PbxUnavailable, PbxRefused) as exc:
            log.warning("presence of %s not shown again: %s", user, exc)

    async def _answer_probe(self, event: Event) -> None:
        user = self._user(event.get("to") or "")
        call_id = event.get("sub-call-id") or ""
        if user is None or not call_id:
            return
        if user in self._key_of:
            agent, kind = self._key_of[user]
            lit = self._keys_on.get(user, False)
            if (event.get("probe-type") or "") == "dialog":
                try:
                    await self._sendevent(lamp_headers(
                        lit, agent, user, self.domain, why=kind, call_id=call_id,
                        lamp_id=KEY_PREFIX[kind] + agent))
                except (PbxUnavailable, PbxRefused) as exc:
                    log.warning("%s key of %s for a new watcher not sent: %s", kind, agent, exc)
            return
        agent = self._agent_of_extension[user]
        extension = self._extension[agent]
        shown = self._shown.get(agent)
        try:
            if (event.get("probe-type") or "") == "dialog":
                found = self.phones.busiest_leg(agent)
                if found is not None:
                    uuid, leg = found
                    await self._sendevent(
                        leg_headers(uuid, leg, agent, extension, self.domain, call_id))
                else:
                    busy = shown is not None and shown.presence in BUSY
                    await self._sendevent(lamp_headers(
                        busy, agent, extension, self.domain,
                        why=shown.presence.value if shown is not None else "",
                        call_id=call_id))
            elif shown is not None:
                await self._sendevent(pidf_headers(
                    shown.presence, shown.note, agent, extension, self.domain, call_id))
        except (PbxUnavailable, PbxRefused) as exc:
            log.warning("presence of %s for a new watcher not sent: %s", agent, exc)

    # -- publishing

    async def publish(self, agent: str, presence: Presence, note: str) -> None:
        """Show an agent's state to the watchers of their extension (PbxUnavailable,
        PbxRefused when FreeSWITCH did not take it)."""
        if agent not in self._extension:
            raise PbxRefused(f"{agent} is not an agent of site {self.site.site}")
        shown = Shown(presence, note)
        self._shown[agent] = shown
        await self._send_lamp(agent, shown)
        if self.rest_after <= 0:
            await self._send_rest(agent, shown)
            return
        # Replaced, not cancelled: a rest already on the wire is left to finish.
        self._rest[agent] = asyncio.create_task(
            self._rest_later(agent, shown), name=f"telephony-presence-{agent}")

    async def _rest_later(self, agent: str, shown: Shown) -> None:
        try:
            await asyncio.sleep(self.rest_after)
            if self._rest.get(agent) is not asyncio.current_task():
                return  # a newer publication's follows
            await self._send_rest(agent, shown)
        except PbxPortError as exc:
            # The lamp is right; a FreeSWITCH that is back is published to again.
            log.warning("presence of %s: the note and key lamps were not sent: %s", agent, exc)
        finally:
            if self._rest.get(agent) is asyncio.current_task():
                del self._rest[agent]

    async def _send_rest(self, agent: str, shown: Shown) -> None:
        await self._sendevent(
            pidf_headers(shown.presence, shown.note, agent, self._extension[agent], self.domain))
        for kind, shows in KEY_SHOWN.items():
            on = shows.get(shown.presence)
            if on is not None and (agent, kind) in self._key_number:
                await self._send_key(agent, kind, on)

    async def key_lamp(self, agent: str, kind: str, on: bool) -> None:
        """Light (or put out) one of the agent's phone keys now ("duty" or "focus")."""
        if (agent, kind) in self._key_number:
            await self._send_key(agent, kind, on)

    async def agent_lamp(self, agent: str, busy: bool) -> None:
        """Set the lamp of the agent's extension now (a phone key turned focus on or
        off), ahead of the engine's publication; idle only while no device is busy."""
        extension = self._extension[agent]
        if self._lamps.get(extension) is busy:
            return
        if not busy and self.phones.state(agent) is not None:
            return
        await self._sendevent(lamp_headers(
            busy, agent, extension, self.domain, why="focus" if busy else ""))
        self._lamps[extension] = busy

    async def _send_key(self, agent: str, kind: str, on: bool) -> None:
        number = self._key_number[(agent, kind)]
        self._keys_on[number] = on
        if self._lamps.get(number) is on:
            return
        await self._sendevent(lamp_headers(
            on, agent, number, self.domain, why=kind, lamp_id=KEY_PREFIX[kind] + agent))
        self._lamps[number] = on

    async def _send(self, agent: str, shown: Shown) -> None:
        await self._send_lamp(agent, shown)
        await self._sendevent(
            pidf_headers(shown.presence, shown.note, agent, self._extension[agent], self.domain))

    async def _send_lamp(self, agent: str, shown: Shown) -> None:
        extension = self._extension[agent]
        # The lamp first: BLF keys are what people look at, and each PRESENCE_IN after it
        # has mod_sofia go through its subscriptions again while it notifies.
        busy = shown.presence in BUSY
        if (shown.presence not in DEVICES  # else the devices' own lamp
                and self._lamps.get(extension) is not busy  # else shown already
                # a device ringing or on a call: its lamp, not ours
                and (busy or self.phones.state(agent) is None)):
            await self._sendevent(lamp_headers(
                busy, agent, extension, self.domain, why=shown.presence.value))
            self._lamps[extension] = busy

    def emit(self, change: Change) -> None:
        """Tell the port's watches of a change the port found itself (a phone key)."""
        for listener in list(self._listeners):
            listener(change)

    async def _sendevent(self, headers: Headers) -> None:
        try:
            await self.client.command(f"sendevent {PRESENCE_IN}", headers)
        except (EslConnectionError, EslTimeout) as exc:
            raise PbxUnavailable(f"sendevent: {exc}") from exc
        except EslError as exc:
            raise PbxRefused(f"sendevent {PRESENCE_IN} refused: {exc}") from exc

    # -- reading

    async def snapshot(
        self, registered: frozenset[str] | None, *, full: bool
    ) -> dict[str, MemberState] | None:
        """Every agent's phones (None when this connection hears no presence events).
        The first read of a connection lists the channels; that one and every full one
        check that the legs held still exist."""
        if not self.enabled:
            return None
        if not self.phones.seeded:
            text = await self._api("show channels as json")
            self._changed(self.phones.seed(show_channels_rows(text)))
            full = True  # the listing lags: a call it shows may have ended since
        if full and self.phones.legs:
            uuids = sorted(self.phones.legs)
            answers = await asyncio.gather(*(self._api(f"uuid_exists {u}") for u in uuids))
            changed = set()
            for uuid, answer in zip(uuids, answers, strict=True):
                if answer.strip() == "false" and uuid in self.phones.legs:
                    changed.add(self.phones.legs[uuid].agent)
                    self.phones.forget(uuid)
            self._changed(changed)
        return self.phones.snapshot(registered)

    async def _api(self, command: str) -> str:
        try:
            return await self.client.api(command, check=False)
        except (EslConnectionError, EslTimeout) as exc:
            raise PbxUnavailable(f"{command.split(' ', 1)[0]}: {exc}") from exc
        except EslError as exc:
            raise PbxRefused(str(exc)) from exc

    async def close(self) -> None:
        rest, self._rest = list(self._rest.values()), {}
        for task in rest:
            task.cancel()  # the next engine's first read publishes everyone again
        await asyncio.gather(*rest, return_exceptions=True)
        if self._sub is not None:
            await self._sub.aclose()
        self._listeners.clear()
