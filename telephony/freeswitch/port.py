"""The engine's port onto FreeSWITCH: mod_callcenter tiers and mod_db keys, through ESL.

Neutral words in, FreeSWITCH's out, and back:

- A queue member is a mod_callcenter tier (queue, agent, level). mod_callcenter keeps
  tiers in its database across restarts but says nothing when one changes, so the
  port reads `callcenter_config tier list` on every snapshot and tracks its own
  writes. A member of level n is a tier of level n - 1: a skill queue's tier rules
  hold tier level L back until the caller has waited L x level_wait seconds, so
  level 1 must be tier level 0 to ring at once.
- A hold is not a tier state: mod_callcenter resets tier states at start and flips
  them around every call. Our holds are tiers taken away (mod_callcenter allows that
  mid-call: the bridge is the channels', not the tier's), remembered in mod_db (realm
  `telephony_hold`, key `<agent>` = `queue:manual,queue:leaving:2`, with the level the
  tier comes back at when it is not 1): the member stays
  listed, held, and rings no one from that queue; a LEAVING one is taken out for good
  once mod_callcenter says the agent's call ended (agent-state-change). Someone else's
  hold is the agent's status `On Break` or `Logged Out`, which the engine never
  touches.
- A tier's position is the agent's place in the site (the order `linear` rings in).
- Keys live in mod_db (sqlite, survives a restart; `telephony.freeswitch.names`):
  focus `telephony_focus/<agent>` and case links `telephony_case/<number>` are what
  the dialplan reads; away reasons (`telephony_away/<agent>`) are the engine's alone.
  mod_db cannot list a realm and `db select` returns at most 255 bytes, so the port
  keeps what it needs to find them again: manual overrides are
  packed per agent (`telephony_override/<agent>` = `group.kind=value;...`), and each
  agent's case numbers are a mod_db group (`telephony_case.<agent>`). Callback
  requests are the dialplan's: `telephony_callback/<queue>.<number>`, each queue's
  callers listed in the group `telephony_callback.<queue>`. Everything is
  read in one pipelined round and mirrored; every writer (the dialplan too) stamps
  `telephony_meta/version` with a new token after a change, so a snapshot (which reads
  that one key beside the tier and agent lists) reads everything again only when
  someone else wrote.
- Registered agents come from mod_sofia's registrations of the site's profile, and
  `sofia::register`, `sofia::unregister` and `sofia::expire` events say they changed;
  the list read is kept until they do (and read again for a second after).
- Presence (`telephony.freeswitch.presence`): a publication is a PRESENCE_IN sent
  through the Event Socket (nothing stored, no lock); what the agents' devices do is
  read from the PRESENCE_IN events of their legs. A phone key raises `telephony::key`:
  the port toggles the agent's hunt-group duty (an override until the next midnight of
  each group, as the engine stores a manual change; the dialplan toggles focus
  itself), lights the key and tells the watches (ChangeKind.KEY).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as day_time

from telephony.config.models import Site
from telephony.freeswitch import names, registrations, transfer
from telephony.freeswitch.callback import Callbacks
from telephony.freeswitch.esl import (
    ClientEvent,
    Disconnected,
    EslAuthError,
    EslClient,
    EslConnectionError,
    EslError,
    EslTimeout,
    Event,
    Reconnected,
    Subscription,
)
from telephony.freeswitch.presence import PRESENCE_EVENTS, PresencePublisher
from telephony.net import ConnectionState
from telephony.port import (
    Change,
    ChangeKind,
    Command,
    Family,
    Hold,
    Join,
    Key,
    Leave,
    LiveCall,
    Member,
    MemberState,
    PbxAuthError,
    PbxRefused,
    PbxUnavailable,
    Publish,
    PutKey,
    SetHold,
    SetLevel,
    Snapshot,
)

log = logging.getLogger(__name__)

CALLCENTER = "CUSTOM callcenter::info"
KEY_EVENT = f"CUSTOM {names.KEY_EVENT}"
ESL_EVENTS = (CALLCENTER, *registrations.REGISTRATION_EVENTS, *PRESENCE_EVENTS, KEY_EVENT)

HOLD_REALM = names.REALM_PREFIX + "hold"
META_REALM = names.META_REALM
VERSION_KEY = names.VERSION_KEY
OVERRIDE_REALM = names.REALM_PREFIX + Family.OVERRIDE.value
# mod_db's `db select` answers in a 256-byte buffer; longer values come back cut.
MAX_VALUE = 255
# `group call` answers in a 4096-byte buffer: room for this many numbers of 15 digits.
MAX_CASES_PER_AGENT = 250

# What the Event Socket answers for an api command that wrote nothing.
_NO_OUTPUT = "-ERR no reply"

# Registrations read are kept while no device registered, left or expired since, and
# are read again until a second after one did: mod_sofia raises sofia::expire before it
# deletes the registration, so a read right after that event may still list it.
REGISTRATION_SETTLE = 1.0

# mod_callcenter's agent states, in neutral words.
_STATES = {
    "Waiting": MemberState.IDLE,
    "Idle": MemberState.IDLE,
    "Receiving": MemberState.RINGING,
    "In a queue call": MemberState.ON_CALL,
}
# Statuses under which mod_callcenter offers an agent no call: someone else's hold.
_AWAY = frozenset({"On Break", "Logged Out"})


@dataclass(frozen=True, slots=True)
class _Agent:
    status: str
    state: str


@dataclass(frozen=True, slots=True)
class _Tier:
    queue: str
    agent: str
    level: int


def parse_rows(text: str) -> list[dict[str, str]]:
    """`callcenter_config ... list` output: a `|`-separated header line, rows, `+OK`."""
    lines = [line for line in text.splitlines() if line and line != "+OK"]
    if not lines:
        return []
    header = lines[0].split("|")
    rows = []
    for line in lines[1:]:
        cells = line.split("|")
        if len(cells) == len(header):
            rows.append(dict(zip(header, cells, strict=True)))
    return rows


def pack_overrides(entries: dict[tuple[str, str], str]) -> str:
    """One agent's overrides as `group.kind=value;...` (ids hold no `.`, `;` or `=`)."""
    return ";".join(f"{group}.{kind}={value}" for (group, kind), value in sorted(entries.items()))


def unpack_overrides(text: str) -> dict[tuple[str, str], str]:
    """The inverse of pack_overrides; malformed entries are skipped, never guessed at."""
    out: dict[tuple[str, str], str] = {}
    for entry in text.split(";"):
        where, sep, value = entry.partition("=")
        group, dot, kind = where.partition(".")
        if sep and dot and group and kind and value:
            out[(group, kind)] = value
    return out


@dataclass(frozen=True, slots=True)
class Held:
    """One of our holds on a queue entry: a held entry has no tier, so the level its
    tier comes back at is kept with the hold."""

    hold: Hold
    level: int = 1


def tier_level(level: int) -> int:
    """The tier level of a neutral level. mod_callcenter's tier rules hold back tier
    level L until the caller has waited L x level_wait, so level 1 is tier level 0."""
    return level - 1


def neutral_level(tier: int) -> int:
    """The neutral level of a tier level (the inverse of tier_level)."""
    return tier + 1


def pack_holds(held: dict[str, Held]) -> str:
    """One agent's holds as `queue:manual,queue:leaving:2` (ids hold no `:` or `,`); a
    level other than 1 follows the hold."""
    return ",".join(
        f"{queue}:{entry.hold.value}" + (f":{entry.level}" if entry.level != 1 else "")
        for queue, entry in sorted(held.items())
    )


def unpack_holds(text: str) -> dict[str, Held]:
    """The inverse of pack_holds; only our own holds are read back (a level that is not
    one is read as 1: the hold matters more than where the tier comes back)."""
    out: dict[str, Held] = {}
    for entry in text.split(","):
        queue, _, rest = entry.partition(":")
        word, _, level_text = rest.partition(":")
        if queue and word in (Hold.MANUAL.value, Hold.LEAVING.value):
            level = int(level_text) if level_text.isdigit() and 1 <= int(level_text) <= 5 else 1
            out[queue] = Held(Hold(word), level)
    return out


class _Watch:
    def __init__(self, subscription: Subscription, stop: Callable[[], None]) -> None:
        self._subscription = subscription
        self._stop = stop

    def close(self) -> None:
        self._subscription.close()
        self._stop()


class FreeswitchPort:
    """A `PbxPort` over one Event Socket connection (`connect()` opens the engine's)."""

    name = "freeswitch"

    def __init__(self, site: Site, client: EslClient, *, owns_client: bool = False) -> None:
        self.site = site
        self.client = client
        self._owns_client = owns_client
        self._queues = {g.id for g in site.hunt_groups} | {q.id for q in site.queues}
        self._agents = {a.id for a in site.agents}
        # What mod_db holds for us, as read at (re)connect and changed by our writes.
        self._focus: dict[str, str] = {}
        self._away: dict[str, str] = {}
        self._cases: dict[str, str] = {}
        self._overrides: dict[str, dict[tuple[str, str], str]] = {}
        self._holds: dict[str, dict[str, Held]] = {}
        # Callback requests the dialplan stored, by (queue, caller number).
        self._callback_requests: dict[tuple[str, str], str] = {}
        self._skill_queues = sorted(q.id for q in site.queues)
        self._devices = {d.id: a.id for a in site.agents for d in a.devices}
        self._position = {a.id: i + 1 for i, a in enumerate(site.agents)}
        self._version: str | None = None  # the stamp the mirror is as of
        self._lock = asyncio.Lock()
        self._reconnected_sub = client.subscribe(self._on_reconnect, names=["Reconnected"])
        self._callbacks = Callbacks(client, site)
        self._presence = PresencePublisher(client, site)
        keys = KEY_EVENT in client.events or "ALL" in client.events
        self._key_sub = client.subscribe(self._on_key, names=[KEY_EVENT]) if keys else None
        # The agents registered as last read, and when that read began; a site's
        # thousands of registrations cost FreeSWITCH tens of ms to list, every snapshot.
        self._registered_read: tuple[float, frozenset[str] | None] | None = None
        self._registrations_changed = time.monotonic()
        heard = set(registrations.REGISTRATION_EVENTS) <= client.events or "ALL" in client.events
        self._registration_sub = client.subscribe(
            self._on_registration, names=[*registrations.REGISTRATION_EVENTS, "Reconnected"]
        ) if heard else None

    def __repr__(self) -> str:
        return f"<FreeswitchPort {self.client!r}>"

    @classmethod
    async def connect(cls, site: Site, host: str = "127.0.0.1") -> FreeswitchPort:
        """Log in to the site's Event Socket and read what the engine stored.

        Raises PbxAuthError for a refused password (never retried), PbxUnavailable
        when the Event Socket cannot be reached.
        """
        client = EslClient(host, site.pbx.control_port, site.pbx.control_secret, events=ESL_EVENTS)
        try:
            await client.connect()
        except EslAuthError as exc:
            raise PbxAuthError(str(exc)) from exc
        except EslError as exc:
            await client.close()
            raise PbxUnavailable(str(exc)) from exc
        port = cls(site, client, owns_client=True)
        try:
            await port._refresh()
        except BaseException:
            await port.close()
            raise
        return port

    def _on_reconnect(self, event: ClientEvent) -> None:
        # FreeSWITCH may have restarted meanwhile: read everything again.
        self._version = None

    # -- talking to FreeSWITCH

    async def _api(self, command: str) -> str:
        try:
            body = await self.client.api(command, check=False)
        except (EslConnectionError, EslTimeout) as exc:
            raise PbxUnavailable(f"{command.split(' ', 1)[0]}: {exc}") from exc
        except EslError as exc:
            raise PbxRefused(str(exc)) from exc
        if body.startswith(_NO_OUTPUT):
            return ""  # an empty answer (a key not stored, an empty group)
        if body.startswith(("-ERR", "-USAGE")):
            raise PbxRefused(f"{command!r} refused: {body.strip()}")
        return body

    async def _db_select(self, realm: str, key: str) -> str:
        value = await self._api(f"db select/{realm}/{key}")
        if value == "!err!":
            raise PbxRefused(f"db select/{realm}/{key} refused")
        return value

    async def _db_put(self, realm: str, key: str, value: str) -> None:
        if len(value.encode()) > MAX_VALUE:
            raise PbxRefused(
                f"{realm}/{key}: {len(value.encode())} bytes; mod_db gives back at most "
                f"{MAX_VALUE}"
            )
        if await self._api(f"db insert/{realm}/{key}/{value}") != "+OK":
            raise PbxRefused(f"db insert/{realm}/{key} refused")

    async def _db_delete(self, realm: str, key: str) -> None:
        if await self._api(f"db delete/{realm}/{key}") != "+OK":
            raise PbxRefused(f"db delete/{realm}/{key} refused")

    async def _group(self, verb: str, group: str, url: str = "") -> str:
        arg = f"{verb}:{group}:{url}" if url else f"{verb}:{group}"
        result = await self._api(f"group {arg}")
        if result == "!err!":
            raise PbxRefused(f"group {verb}:{group} refused")
        return result

    # -- the mirror of mod_db

    async def _refresh(self) -> None:
        """Read everything again if anyone (or a restart) changed it since we last did."""
        version = await self._db_select(META_REALM, VERSION_KEY)
        if self._version is None or version != self._version:
            await self._load()
            self._version = version

    async def _stamp(self) -> None:
        """Tell other readers the stored state changed (and that we have it)."""
        token = uuid.uuid4().hex[:16]
        await self._db_put(META_REALM, VERSION_KEY, token)
        self._version = token

    async def _load(self) -> None:
        """Read everything the engine stored, one pipelined round per kind of key."""
        agents = sorted(self._agents)
        focus, away, overrides, holds, case_lists = await asyncio.gather(
            asyncio.gather(*(self._db_select(names.FOCUS_REALM, a) for a in agents)),
            asyncio.gather(*(self._db_select(names.AWAY_REALM, a) for a in agents)),
            asyncio.gather(*(self._db_select(OVERRIDE_REALM, a) for a in agents)),
            asyncio.gather(*(self._db_select(HOLD_REALM, a) for a in agents)),
            asyncio.gather(*(self._group("call", self._case_group(a)) for a in agents)),
        )
        listed = {a: set(filter(None, text.split(","))) for a, text in zip(agents, case_lists, strict=True)}
        numbers = sorted(set().union(*listed.values())) if listed else []
        owners = await asyncio.gather(*(self._db_select(names.CASE_REALM, n) for n in numbers))
        self._focus = {a: v for a, v in zip(agents, focus, strict=True) if v}
        self._away = {a: v for a, v in zip(agents, away, strict=True) if v}
        self._overrides = {
            a: entries for a, text in zip(agents, overrides, strict=True)
            if (entries := unpack_overrides(text))
        }
        self._holds = {
            a: held for a, text in zip(agents, holds, strict=True) if (held := unpack_holds(text))
        }
        # A number listed under an agent counts only while its link names that agent
        # (an index entry left by an interrupted change is ignored).
        self._cases = {
            n: owner for n, owner in zip(numbers, owners, strict=True)
            if n in listed.get(owner, ())
        }
        self._callback_requests = await self._load_callback_requests()

    async def _load_callback_requests(self) -> dict[tuple[str, str], str]:
        """The callback requests the dialplan stored: each skill queue's mod_db group
        lists its callers, the realm holds when each joined (a listed caller without a
        request, left by an interrupted write or delete, is ignored)."""
        queues = self._skill_queues
        lists = await asyncio.gather(
            *(self._group("call", names.callback_group(q)) for q in queues)
        )
        wanted = sorted({
            (queue, number) for queue, text in zip(queues, lists, strict=True)
            for number in text.split(",") if number
        })
        values = await asyncio.gather(
            *(self._db_select(names.CALLBACK_REALM, f"{q}.{n}") for q, n in wanted)
        )
        return {entry: value for entry, value in zip(wanted, values, strict=True) if value}

    @staticmethod
    def _case_group(agent: str) -> str:
        return f"{names.CASE_REALM}.{agent}"

    def _keys(self) -> dict[Key, str]:
        keys: dict[Key, str] = {}
        for agent, value in self._focus.items():
            keys[Key(Family.FOCUS, (agent,))] = value
        for agent, value in self._away.items():
            keys[Key(Family.AWAY, (agent,))] = value
        for number, agent in self._cases.items():
            keys[Key(Family.CASE, (number,))] = agent
        for agent, entries in self._overrides.items():
            for (group, kind), value in entries.items():
                keys[Key(Family.OVERRIDE, (group, agent, kind))] = value
        for (queue, number), value in self._callback_requests.items():
            keys[Key(Family.CALLBACK, (queue, number))] = value
        return keys

    # -- the port

    async def snapshot(self, queues: Collection[str] | None = None) -> Snapshot:
        wanted = self._queues if queues is None else self._queues & set(queues)
        # A few queues are listed one by one: a large site has thousands of tiers.
        listings = (["callcenter_config tier list"] if queues is None else
                    [f"callcenter_config queue list tiers {q}" for q in sorted(wanted)])
        if queues is None:
            # An engine killed while a callback rang left its agent `Receiving`.
            try:
                await self._callbacks.release_orphans()
            except PbxRefused as exc:
                log.warning("callbacks left by a stopped engine: %s", exc)
        async with self._lock:
            agent_text, tier_texts, _, registered = await asyncio.gather(
                self._api("callcenter_config agent list"),
                asyncio.gather(*(self._api(listing) for listing in listings)),
                self._refresh(),
                self._registered(),
            )
        agents = {
            row["name"]: _Agent(row.get("status", ""), row.get("state", ""))
            for row in parse_rows(agent_text)
        }
        members: list[Member] = []
        for row in (r for text in tier_texts for r in parse_rows(text)):
            tier = _Tier(row["queue"], row["agent"], _int(row.get("level", "1")))
            if tier.queue in wanted:
                members.append(self._member(tier, agents.get(tier.agent)))
        for agent, held in sorted(self._holds.items()):
            for queue, hold in sorted(held.items()):
                if queue not in wanted:
                    continue
                members.append(Member(
                    queue, agent, f"held:{queue}:{agent}", hold=hold.hold,
                    state=_state(agents.get(agent)), level=hold.level,
                ))
        phones = await self._presence.snapshot(registered, full=queues is None)
        return Snapshot(tuple(members), self._keys(), registered, phones)

    async def _on_key(self, event: ClientEvent) -> None:
        """A phone key (the dialplan's event): duty is toggled here, focus was by the
        dialplan; the key lights at once and the watches are told to look."""
        if not isinstance(event, Event):
            return
        agent, key = event.get("tel-agent") or "", event.get("tel-key") or ""
        if agent not in self._agents or key not in ("duty", "focus"):
            return
        try:
            if key == "duty":
                on = await self._toggle_duty(agent)
            else:
                until = await self._db_select(names.FOCUS_REALM, agent)
                on = until == "0" or (until.isdigit() and int(until) > time.time())
                # The agent's own lamp at once too: busy in focus, and out of it while away.
                away = not on and bool(await self._db_select(names.AWAY_REALM, agent))
                await self._presence.agent_lamp(agent, on or away)
            await self._presence.key_lamp(agent, key, on)
        except (PbxUnavailable, PbxRefused) as exc:
            log.warning("%s key of %s: %s", key, agent, exc)
        self._presence.emit(Change(ChangeKind.KEY, agent=agent))

    async def _toggle_duty(self, agent: str) -> bool:
        """Take the agent out of every hunt group of theirs when they are in one now, else
        into all of them, until the next midnight of each group; True: now on duty."""
        groups = [g for g in self.site.hunt_groups if agent in g.roster]
        if not groups:
            return False
        snapshot = await self.snapshot([g.id for g in groups])
        on = any(m.agent == agent for m in snapshot.members)
        for group in groups:
            zone = self.site.zone(group)
            tomorrow = (datetime.now(zone) + timedelta(days=1)).date()
            until = int(datetime.combine(tomorrow, day_time(0), tzinfo=zone).timestamp())
            await self.apply(PutKey(
                Key(Family.OVERRIDE, (group.id, agent, "member")),
                f"{'leave' if on else 'join'}:{until}", f"{agent}'s duty key",
            ))
        return not on

    def _on_registration(self, event: ClientEvent) -> None:
        # A registration changed, or FreeSWITCH may have restarted: read them again.
        self._registrations_changed = time.monotonic()

    async def _registered(self) -> frozenset[str] | None:
        """The agents with a device registered now (None: the profile is not running)."""
        read = self._registered_read
        if (self._registration_sub is not None and read is not None
                and read[0] >= self._registrations_changed + REGISTRATION_SETTLE):
            return read[1]
        began = time.monotonic()
        text = await self._api(f"sofia xmlstatus profile {names.PROFILE} reg")
        devices = registrations.registered_devices(text)
        agents = None if devices is None else frozenset(
            self._devices[d] for d in devices if d in self._devices
        )
        self._registered_read = (began, agents)
        return agents

    def _member(self, tier: _Tier, agent: _Agent | None) -> Member:
        away = agent is not None and agent.status in _AWAY
        return Member(
            tier.queue, tier.agent, f"tier:{tier.queue}:{tier.agent}",
            hold=Hold.EXTERNAL if away else None,
            state=_state(agent),
            level=neutral_level(tier.level),
            hold_reason=agent.status if agent is not None and away else "",
        )

    async def apply(self, command: Command) -> None:
        if isinstance(command, Publish):
            # Nothing stored, so no lock: mod_sofia tells the watchers at once.
            await self._presence.publish(command.agent, command.presence, command.note)
            return
        async with self._lock:
            await self._refresh()
            if await self._apply(command):
                await self._stamp()

    async def _apply(self, command: Command) -> bool:
        """Carry out one command; True when it changed what mod_db holds for us."""
        if isinstance(command, Join):
            if command.hold is not None:
                await self._set_held(
                    command.agent, command.queue, Held(command.hold, command.level)
                )
                return True
            await self._tier_add(command.queue, command.agent, command.level)
            return False
        if isinstance(command, Leave):
            if command.ref.startswith("held:"):
                await self._set_held(command.agent, command.queue, None)
                return True
            await self._tier_del(command.queue, command.agent)
            return False
        if isinstance(command, SetHold):
            return await self._set_hold(command)
        if isinstance(command, SetLevel):
            if command.ref.startswith("held:"):
                # No tier to move: the level comes back with the tier.
                held = self._holds.get(command.agent, {}).get(command.queue)
                if held is None:
                    raise PbxRefused(f"{command.agent} is not held in {command.queue}")
                await self._set_held(
                    command.agent, command.queue, Held(held.hold, command.level)
                )
                return True
            await self._tier_level(command.queue, command.agent, command.level)
            return False
        if isinstance(command, PutKey):
            await self._put(command.key, command.value)
        elif isinstance(command, Publish):
            await self._presence.publish(command.agent, command.presence, command.note)
            return False
        else:
            await self._delete(command.key)
        return True

    async def _tier_level(self, queue: str, agent: str, level: int) -> None:
        result = await self._api(
            f"callcenter_config tier set level {queue} {agent} {tier_level(level)}"
        )
        if not result.startswith("+OK"):
            raise PbxRefused(f"tier set level {queue} {agent}: {result.strip()}")

    async def _tier_add(self, queue: str, agent: str, level: int) -> None:
        position = self._position.get(agent, len(self._position) + 1)
        result = await self._api(
            f"callcenter_config tier add {queue} {agent} {tier_level(level)} {position}"
        )
        if not result.startswith("+OK"):
            raise PbxRefused(f"tier add {queue} {agent} refused: {result.strip()}")

    async def _tier_del(self, queue: str, agent: str) -> None:
        result = await self._api(f"callcenter_config tier del {queue} {agent}")
        if not result.startswith("+OK"):
            raise PbxRefused(f"tier del {queue} {agent} refused: {result.strip()}")

    async def _set_hold(self, command: SetHold) -> bool:
        if command.ref.startswith("held:"):
            before = self._holds.get(command.agent, {}).get(command.queue, Held(Hold.MANUAL))
            if command.hold is None:
                # Released: ring the agent from this queue again, at the level kept.
                await self._tier_add(command.queue, command.agent, before.level)
                await self._set_held(command.agent, command.queue, None)
            else:
                await self._set_held(
                    command.agent, command.queue, Held(command.hold, before.level)
                )
            return True
        if command.hold is None:
            return False  # a tier is never held: nothing to release
        # Record first (with the tier's level, for when it comes back), then stop the
        # calls from this queue; the call in progress is the channels' and goes on.
        level = await self._tier_level_of(command.queue, command.agent)
        await self._set_held(command.agent, command.queue, Held(command.hold, level))
        await self._tier_del(command.queue, command.agent)
        return True

    async def _tier_level_of(self, queue: str, agent: str) -> int:
        """The neutral level of an agent's tier in a queue (1 when there is none)."""
        rows = parse_rows(await self._api(f"callcenter_config queue list tiers {queue}"))
        for row in rows:
            if row.get("agent") == agent:
                return neutral_level(_int(row.get("level", "0")))
        return 1

    async def _set_held(self, agent: str, queue: str, hold: Held | None) -> None:
        held = dict(self._holds.get(agent, {}))
        if hold is None:
            held.pop(queue, None)
        else:
            held[queue] = hold
        if held:
            await self._db_put(HOLD_REALM, agent, pack_holds(held))
            self._holds[agent] = held
        else:
            await self._db_delete(HOLD_REALM, agent)
            self._holds.pop(agent, None)

    async def _put(self, key: Key, value: str) -> None:
        if key.family is Family.FOCUS:
            (agent,) = key.parts
            await self._db_put(names.FOCUS_REALM, agent, value)
            self._focus[agent] = value
        elif key.family is Family.AWAY:
            (agent,) = key.parts
            await self._db_put(names.AWAY_REALM, agent, value)
            self._away[agent] = value
        elif key.family is Family.CASE:
            (number,) = key.parts
            before = self._cases.get(number)
            listed = [n for n, a in self._cases.items() if a == value]
            if before != value and len(listed) >= MAX_CASES_PER_AGENT:
                raise PbxRefused(
                    f"{value} already has {len(listed)} linked callers, as many as "
                    "FreeSWITCH can list for one agent"
                )
            # The index first: it may list a number that has no link, never the reverse.
            await self._group("insert", self._case_group(value), number)
            await self._db_put(names.CASE_REALM, number, value)
            self._cases[number] = value
            if before is not None and before != value:
                await self._group("delete", self._case_group(before), number)
        elif key.family is Family.CALLBACK:
            queue, number = key.parts
            # The index first, as the dialplan writes it.
            await self._group("insert", names.callback_group(queue), number)
            await self._db_put(names.CALLBACK_REALM, f"{queue}.{number}", value)
            self._callback_requests[(queue, number)] = value
        else:
            group, agent, kind = key.parts
            entries = dict(self._overrides.get(agent, {}))
            entries[(group, kind)] = value
            await self._db_put(OVERRIDE_REALM, agent, pack_overrides(entries))
            self._overrides[agent] = entries

    async def _delete(self, key: Key) -> None:
        if key.family is Family.FOCUS:
            (agent,) = key.parts
            await self._db_delete(names.FOCUS_REALM, agent)
            self._focus.pop(agent, None)
        elif key.family is Family.AWAY:
            (agent,) = key.parts
            await self._db_delete(names.AWAY_REALM, agent)
            self._away.pop(agent, None)
        elif key.family is Family.CASE:
            (number,) = key.parts
            owner = self._cases.pop(number, None)
            await self._db_delete(names.CASE_REALM, number)
            if owner is not None:
                await self._group("delete", self._case_group(owner), number)
        elif key.family is Family.CALLBACK:
            queue, number = key.parts
            self._callback_requests.pop((queue, number), None)
            # The request first: the index may list a number without one, never the
            # reverse.
            await self._db_delete(names.CALLBACK_REALM, f"{queue}.{number}")
            await self._group("delete", names.callback_group(queue), number)
        else:
            group, agent, kind = key.parts
            entries = dict(self._overrides.get(agent, {}))
            entries.pop((group, kind), None)
            if entries:
                await self._db_put(OVERRIDE_REALM, agent, pack_overrides(entries))
                self._overrides[agent] = entries
            else:
                await self._db_delete(OVERRIDE_REALM, agent)
                self._overrides.pop(agent, None)

    def watch(self, on_change: Callable[[Change], None]) -> _Watch:
        def on_event(event: ClientEvent) -> None:
            if isinstance(event, Reconnected):
                on_change(Change(ChangeKind.RESYNC))
            elif isinstance(event, Disconnected):
                # The client gives up only when a re-login is refused (a changed password).
                if self.client.state is ConnectionState.CLOSED:
                    on_change(Change(ChangeKind.GONE))
            elif isinstance(event, Event):
                device = registrations.registration_device(event)
                if device is not None:
                    if device in self._devices:
                        on_change(Change(ChangeKind.REGISTRATION, agent=self._devices[device]))
                    return
                for change in _changes(event):
                    on_change(change)

        return _Watch(self.client.subscribe(
            on_event,
            names=[CALLCENTER, *registrations.REGISTRATION_EVENTS, "Reconnected", "Disconnected"],
        ), self._presence.listen(on_change))

    async def calls(self) -> tuple[LiveCall, ...]:
        return await transfer.calls(self.client, self.site)

    async def transfer(self, call: LiveCall, number: str, *, attended: bool) -> None:
        await transfer.transfer(self.client, self.site, call, number, attended=attended)

    async def call_back(self, agent: str, caller: str, queue: str) -> None:
        await self._callbacks.call_back(agent, caller, queue)

    async def close(self) -> None:
        self._reconnected_sub.close()
        if self._registration_sub is not None:
            self._registration_sub.close()
        await self._callbacks.close()
        await self._presence.close()
        if self._key_sub is not None:
            await self._key_sub.aclose()
        if self._owns_client:
            await self.client.close()


def _changes(event: Event) -> Iterable[Change]:
    """What a callcenter event says changed: an agent's status or state (every queue)."""
    action = event.get("CC-Action") or ""
    agent = event.get("CC-Agent") or ""
    if action in ("agent-status-change", "agent-state-change") and agent:
        yield Change(ChangeKind.MEMBER_STATE, "", agent)


def _state(agent: _Agent | None) -> MemberState:
    if agent is None:
        return MemberState.UNKNOWN
    return _STATES.get(agent.state, MemberState.UNKNOWN)


def _int(text: str) -> int:
    return int(text) if text.isdigit() else 1
