"""The engine: keeps the PBX's queue membership and stored state right, through a port.

It reads what the PBX has (queue members, stored keys), asks the pure routing core what
should be, and hands the difference back to the port as neutral commands. It keeps no
state of its own that the PBX does not also hold, so a restarted engine picks up
exactly where the last one stopped, and calls never wait on it. Which PBX it drives is
the port's business (`telephony.port.PbxPort`).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from telephony.config.fields import ID_RE, shown
from telephony.config.models import Site
from telephony.engine.callbacks import CallbackDialler, earliest
from telephony.port import (
    Change,
    ChangeKind,
    Command,
    DeleteKey,
    Family,
    Hold,
    Join,
    Leave,
    Member,
    MemberState,
    PbxPort,
    PbxPortError,
    PbxRefused,
    PbxUnavailable,
    Presence,
    Publish,
    PutKey,
    SetHold,
    SetLevel,
    Watch,
)
from telephony.presence import model as presence
from telephony.presence.feed import Feed
from telephony.presence.model import AgentPresence, AgentView
from telephony.routing import roster, skills
from telephony.routing.clock import Clock
from telephony.routing.membership import desired, next_wakeup, on_duty, plan
from telephony.routing.state import (
    EMPTY,
    Focus,
    Override,
    OverrideAction,
    StoredState,
    away_key,
    case_key,
    focus_key,
    parse_keys,
    reason_problem,
)

log = logging.getLogger("telephony.engine")
_RETRY = timedelta(seconds=5)
_LEAVING_RECHECK = timedelta(seconds=60)


class EngineError(Exception):
    """A request the engine cannot carry out; `field` names the part that is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class UnknownName(EngineError):
    """An agent, hunt group or case that does not exist."""


@dataclass(frozen=True, slots=True)
class PbxState:
    """What the engine read from the PBX in one pass."""

    members: tuple[Member, ...]
    stored: StoredState
    registered: frozenset[str] | None = None
    """Agents with a device registered; None when the PBX cannot tell."""
    phones: dict[str, MemberState] | None = None
    """What each agent's devices do; None when the PBX cannot tell."""


class StateChange(StrEnum):
    """What an agent (or a supervisor) says about the agent's state."""

    AVAILABLE = "available"
    """Neither away nor in focus."""
    AWAY = "away"
    """Away, with a reason: held in every hunt group and skill queue until back."""
    FOCUS = "focus"
    """In focus, until a time or until turned off."""
    BACK = "back"
    """The same as available: away and focus end."""


class AgentState(StrEnum):
    """What an agent can do about a call now, most available first."""

    AVAILABLE = "available"
    BUSY = "busy"
    """On a call or being rung."""
    IN_FOCUS = "in_focus"
    UNREGISTERED = "unregistered"
    """No device registered: nothing would ring."""


@dataclass(frozen=True, slots=True)
class Availability:
    """One agent as the engine sees them now."""

    agent: str
    registered: bool
    in_focus: bool
    busy: bool
    on_duty: tuple[str, ...]
    """Hunt groups whose roster has the agent on a shift now."""

    @property
    def state(self) -> AgentState:
        if not self.registered:
            return AgentState.UNREGISTERED
        if self.in_focus:
            return AgentState.IN_FOCUS
        return AgentState.BUSY if self.busy else AgentState.AVAILABLE


@dataclass(frozen=True, slots=True)
class Expert:
    """An agent with a skill, for the expert finder."""

    agent: str
    name: str
    level: int
    availability: Availability


@dataclass(frozen=True, slots=True)
class GroupStatus:
    group: str
    members: list[Member]
    on_duty: list[str]


class Engine:
    """Drives one PBX for one site. Call `start()`, then `stop()` to finish."""

    def __init__(self, site: Site, port: PbxPort, clock: Clock) -> None:
        self.site = site
        self.port = port
        self.clock = clock
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._sync_asked = False  # set: the woken loop reads; unset: it only re-sleeps
        self._task: asyncio.Task[None] | None = None
        self._watch: Watch | None = None
        self._leaving: set[tuple[str, str]] = set()
        self._own: set[tuple[str, str]] = set()
        self._deadline: datetime | None = None
        # The site file is the truth at start; edits over the API live until the engine
        # stops (the PBX holds the membership they lead to, not the skills).
        self._skills: dict[str, dict[str, int]] = {a.id: dict(a.skills) for a in site.agents}
        self._callbacks = CallbackDialler(site, port)
        self.started = False
        """True once `start()` has read the PBX and put it right for the first time."""
        # Presence: what the last reads said (members as our commands left them),
        # what the devices do (kept current by PHONE_STATE changes between reads), and
        # each agent's view as last derived. Event ids start at the start time in ms,
        # so a restarted engine's are above the last one's.
        self.zone = ZoneInfo(site.timezone)
        self.feed: Feed[AgentView] = Feed(first_id=int(clock.now().timestamp() * 1000))
        self._views: dict[str, AgentView] = {}
        self._entries: dict[str, list[Member]] = {}  # the members by agent
        self._in_queue: dict[str, set[str]] = {}  # the agents in each queue
        self._stored: StoredState = EMPTY
        self._registered: frozenset[str] | None = None
        self._phones: dict[str, MemberState] | None = None
        self._phones_heard: dict[str, int] = {}  # agent -> the PHONE_STATE count then
        self._phone_count = 0
        self._duty: dict[str, dict[str, datetime | None]] = {}
        self._wrap: dict[str, datetime] = {}
        self._wrap_wake = asyncio.Event()
        self._republish = True  # every agent, after the first read and each RESYNC
        self._pending: dict[str, Publish] = {}
        self._publish_wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._refusing = False
        self._helpers: list[asyncio.Task[None]] = []

    def __repr__(self) -> str:
        running = self._task is not None and not self._task.done()
        return f"<Engine site={self.site.site!r} pbx={self.port.name} running={running}>"

    async def start(self) -> None:
        """Re-sync with the PBX, then keep it in sync in the background."""
        self._watch = self.port.watch(self._on_change)
        self._helpers = [
            asyncio.create_task(self._publisher(), name="telephony-publish"),
            asyncio.create_task(self._wrap_timer(), name="telephony-wrap-up"),
        ]
        try:
            await self.sync()
        except PbxPortError as exc:
            # A PBX may let the engine in before it can answer (Asterisk's AMI before
            # app_queue has loaded): not fatal, the loop tries again.
            log.warning("first sync failed (%s); trying again in %ss", exc, _RETRY.seconds)
            self._deadline = self.clock.now() + _RETRY
        except BaseException:
            self._watch.close()
            self._watch = None
            await self._stop_helpers()
            raise
        self._task = asyncio.create_task(self._run(), name="telephony-engine")
        self.started = True

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.close()
            self._watch = None
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        await self._stop_helpers()

    async def _stop_helpers(self) -> None:
        helpers, self._helpers = self._helpers, []
        for task in helpers:
            task.cancel()
        for task in helpers:
            try:
                await task
            except asyncio.CancelledError:
                pass

    def wake(self) -> None:
        """Ask for a sync soon (after an event or an outside change)."""
        self._sync_asked = True
        self._wake.set()

    def _reschedule(self, deadline: datetime | None) -> None:
        # The loop sleeps on the deadline it had: wake it to sleep again, without a read.
        self._deadline = earliest(self._deadline, deadline)
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self.clock.sleep_until(self._deadline, self._wake)
            self._wake.clear()
            if not self._sync_asked and (
                    self._deadline is None or self.clock.now() < self._deadline):
                continue  # only the deadline moved
            self._sync_asked = False
            try:
                await self.sync()
            except PbxPortError as exc:
                # A RESYNC change wakes us sooner; this is the fallback.
                log.warning("sync failed (%s); trying again when the PBX is back", exc)
                self._deadline = self.clock.now() + _RETRY
            except Exception:
                # A bug must not stop the engine for good while the API looks alive.
                log.exception("sync failed unexpectedly; trying again in %ss", _RETRY.seconds)
                self._deadline = self.clock.now() + _RETRY

    def _on_change(self, change: Change) -> None:
        if change.kind is ChangeKind.PHONE_STATE:
            self._on_phone(change)  # the cheap path: no read of the PBX per call
            return
        if change.kind is ChangeKind.RESYNC:
            # The PBX may have restarted and forgotten every publication.
            self._republish = True
        key = (change.queue, change.agent)
        if change.kind is ChangeKind.MEMBERSHIP and key in self._own:
            return  # our own change echoed back
        if change.kind is ChangeKind.MEMBER_STATE and not self._is_leaving(change):
            return  # state changes matter only for a member leaving after a call
        # A registration decides skill-queue membership and who is offline.
        self.wake()

    def _is_leaving(self, change: Change) -> bool:
        # A PBX that reports state per agent (no queue) speaks for all their queues.
        if change.queue:
            return (change.queue, change.agent) in self._leaving
        return any(agent == change.agent for _, agent in self._leaving)

    async def read_state(self, queues: frozenset[str] | None = None) -> PbxState:
        """Read queue members (of every queue, or of `queues`) and stored keys."""
        snapshot = await self.port.snapshot(queues)
        return PbxState(snapshot.members, parse_keys(snapshot.keys), snapshot.registered,
                        snapshot.phones)

    async def sync(self, queues: frozenset[str] | None = None) -> list[Command]:
        """Bring the PBX in line with the roster, overrides, focus and skills; return what
        was done. With `queues`, only those queues are read and put right (a change that
        can only touch them, on a site with thousands of members elsewhere)."""
        async with self._lock:
            now = self.clock.now()
            heard = self._phone_count
            state = await self.read_state(queues)
            groups = {g.id for g in self.site.hunt_groups}
            # A sync of skill queues alone skips the rosters (every hunt group's shifts).
            wants = (desired(self.site, now, state.stored)
                     if queues is None or queues & groups else {})
            reach = self._reach(state, now)
            skill_wants = skills.desired(self.site, self._skills, reach, state.members, queues)
            if queues is not None:
                wants = {k: w for k, w in wants.items() if k[0] in queues}
            commands = plan(self.site, wants, state.members, state.stored, now)
            commands += skills.plan(self.site, skill_wants, state.members, self._skills, reach)
            # Known before the commands go out, so the end of a call that ends meanwhile
            # is not mistaken for noise.
            leaving = {
                (c.queue, c.agent) for c in commands
                if isinstance(c, SetHold) and c.hold is Hold.LEAVING
            } | {(m.queue, m.agent) for m in state.members if m.hold is Hold.LEAVING}
            own = {(c.queue, c.agent) for c in commands if isinstance(c, Join | Leave)}
            if queues is None:
                self._leaving, self._own = leaving, own
            else:
                self._leaving = {k for k in self._leaving if k[0] not in queues} | leaving
                self._own = {k for k in self._own if k[0] not in queues} | own
            taken = [command for command in commands if await self._apply(command)]
            touched = self._observe(state, taken, queues, heard)
            # A sync of a few queues can only change what their members show.
            self._refresh(self.clock.now(), touched)
            if queues is not None:
                return commands  # the deadline stays the last full sync's
            self._deadline = next_wakeup(self.site, now, state.stored)
            if self.site.queues:
                # The PBX reports neither a new request nor an agent coming free to a
                # skill queue: the dialler asks for another round while anything waits.
                done = await self._callbacks.run(state.members, state.stored, now)
                self._deadline = earliest(self._deadline, done.next_check)
            if self._leaving:
                # Belt and braces: a missed end-of-call event costs a minute, not a shift.
                soon = now + _LEAVING_RECHECK
                self._deadline = soon if self._deadline is None else min(self._deadline, soon)
            return commands

    def _reach(self, state: PbxState, now: datetime) -> dict[str, skills.Reach]:
        stamp = now.timestamp()
        return {
            a.id: skills.Reach(
                state.registered is None or a.id in state.registered,
                (f := state.stored.focus.get(a.id)) is not None and f.active(stamp),
                state.stored.away.get(a.id),
            )
            for a in self.site.agents
        }

    async def _apply(self, command: Command) -> bool:
        log.info("%s", command)
        try:
            await self.port.apply(command)
        except PbxRefused as exc:
            # The next sync re-reads the PBX and tries again; nothing is assumed done.
            log.warning("%s", exc)
            return False
        return True

    # ---- presence: one state per agent, its feed and its publication ----

    def _observe(
        self, state: PbxState, done: Sequence[Command], queues: frozenset[str] | None,
        heard: int,
    ) -> set[str] | None:
        """Keep what a read said, with the members as the commands just done left them;
        the agents whose entries were read (None: everyone's)."""
        members = _after(state.members, done)
        fresh: dict[str, list[Member]] = {}
        for m in members:
            fresh.setdefault(m.agent, []).append(m)
        touched: set[str] | None = None
        if queues is None:
            self._entries = fresh
        else:
            # Only the agents in those queues, before or now, have other entries to keep.
            read = set(fresh) | {a for q in queues for a in self._in_queue.get(q, ())}
            touched = set()
            for agent in read:
                old = self._entries.get(agent, [])
                new = [m for m in old if m.queue not in queues] + fresh.get(agent, [])
                self._entries[agent] = new
                if _shown(old) != _shown(new):
                    touched.add(agent)  # a level alone shows nowhere
        for queue in (self._in_queue if queues is None else queues):
            self._in_queue[queue] = set()
        for m in members:
            self._in_queue.setdefault(m.queue, set()).add(m.agent)
        self._stored = state.stored
        self._registered = state.registered
        if state.phones is not None:
            # A PHONE_STATE heard while the read was on its way is newer than the read.
            newer = {a: s for a, s in (self._phones or {}).items()
                     if self._phones_heard.get(a, -1) >= heard}
            self._phones = {**state.phones, **newer}
        if queues is None or queues & {g.id for g in self.site.hunt_groups}:
            self._duty = on_duty(self.site, self.clock.now(), state.stored)
        return touched

    def _on_phone(self, change: Change) -> None:
        if change.state is None:
            self.wake()  # the port could not say: read it
            return
        if self._phones is None:
            # Until now the port told nothing: start from what the queue entries say.
            self._phones = {
                a.id: presence.busiest(m.state for m in self._entries.get(a.id, ()))
                for a in self.site.agents
            }
        self._phones[change.agent] = change.state
        self._phones_heard[change.agent] = self._phone_count
        self._phone_count += 1
        if change.agent in self._views:
            self._refresh(self.clock.now(), [change.agent])

    def _refresh(self, now: datetime, agents: Collection[str] | None = None) -> None:
        """Derive the presence of every agent (or of `agents`) again; each change goes to
        the feed and, when phones would show it, to the port."""
        entries = self._entries
        if agents is not None:
            agents = [a for a in agents if a in self._skills]  # the site's agents only
        known = presence.facts(
            self.site, now, self._stored, entries, self._registered, self._phones,
            self._duty, self._wrap, agents,
        )
        republish = self._republish and agents is None
        for agent, facts in known.items():
            before = self._views.get(agent)
            last = before.presence if before is not None else None
            if (last is not None and last.presence is Presence.ON_CALL and facts.registered
                    and facts.phone not in (MemberState.ON_CALL, MemberState.RINGING)):
                # A call just ended: wrap-up, the engine's approximation (see
                # telephony.presence.model).
                until = presence.wrap_up(self.site, agent, entries.get(agent, ()), now)
                if until is not None:
                    self._wrap[agent] = until
                    self._wrap_wake.set()
                    facts = replace(facts, wrap_until=until)
            now_presence = presence.derive(facts, now, self.zone, last)
            view = presence.view(self.site, now_presence, entries.get(agent, ()),
                                 self._skills[agent])
            if view != before:
                self._views[agent] = view
                self.feed.append(view)
            shown = last is not None and (last.presence, last.note) == (
                now_presence.presence, now_presence.note)
            if republish or not shown:
                why = "republish" if republish and shown else "state changed"
                self._queue_publish(now_presence, why)
        if republish:
            self._republish = False

    def _queue_publish(self, agent: AgentPresence, why: str) -> None:
        # Only the latest state of each agent is worth sending.
        self._pending[agent.agent] = Publish(agent.agent, agent.presence, agent.note, why)
        self._drained.clear()
        self._publish_wake.set()

    async def _publisher(self) -> None:
        """Hands publications to the port off the read path, the latest per agent."""
        while True:
            await self._publish_wake.wait()
            self._publish_wake.clear()
            while self._pending:
                agent = next(iter(self._pending))
                await self._publish(self._pending.pop(agent))
            self._drained.set()

    async def _publish(self, command: Publish) -> None:
        log.debug("%s", command)
        try:
            await self.port.apply(command)
        except PbxPortError as exc:
            # Never a sync failure: phones show a stale state, the API the right one. A
            # PBX that is gone says RESYNC once back, and everyone is published again.
            if not self._refusing:
                log.warning("%s: %s (further failures logged at debug level until a "
                            "publication is taken)", command, exc)
            else:
                log.debug("%s: %s", command, exc)
            self._refusing = True
        except Exception:
            log.exception("%s failed unexpectedly", command)
        else:
            self._refusing = False

    async def publications_done(self) -> None:
        """Wait until every publication queued so far went to the port (for tests)."""
        if not self._helpers:
            while self._pending:
                agent = next(iter(self._pending))
                await self._publish(self._pending.pop(agent))
            self._drained.set()
        await self._drained.wait()

    async def _wrap_timer(self) -> None:
        """Ends wrap-ups on time (no read of the PBX needed)."""
        while True:
            await self.clock.sleep_until(min(self._wrap.values(), default=None), self._wrap_wake)
            self._wrap_wake.clear()
            now = self.clock.now()
            due = [agent for agent, until in self._wrap.items() if until <= now]
            for agent in due:
                del self._wrap[agent]
            if due:
                self._refresh(now, due)

    def agents(self) -> list[AgentView]:
        """Every agent as last derived, in the site's order."""
        if not self._views:
            raise PbxUnavailable("the engine has not read the PBX yet")
        return [self._views[a.id] for a in self.site.agents if a.id in self._views]

    def agent_view(self, agent_id: str) -> AgentView:
        """One agent as last derived."""
        self._check_agent(agent_id)
        view = self._views.get(agent_id)
        if view is None:
            raise PbxUnavailable("the engine has not read the PBX yet")
        return view

    async def set_away(self, agent_id: str, reason: str) -> None:
        """Away with a reason: held in every hunt group and skill queue (the direct line
        still rings) until back; stored in the PBX, so it outlives the engine."""
        self._check_agent(agent_id)
        self._check_reason(reason)
        await self._store_state(agent_id, PutKey(away_key(agent_id), reason, "away"))
        log.info("away for %s: %s", agent_id, reason)
        await self._settle_agent(agent_id)

    async def clear_away(self, agent_id: str) -> None:
        self._check_agent(agent_id)
        await self._store_state(agent_id, DeleteKey(away_key(agent_id), "back"))  # absent is fine too
        log.info("%s is back", agent_id)
        await self._settle_agent(agent_id)

    @staticmethod
    def _check_reason(reason: object) -> None:
        if not isinstance(reason, str):
            raise EngineError("reason", "required: why the agent is away, in words")
        problem = reason_problem(reason)
        if problem is not None:
            raise EngineError("reason", problem)

    async def set_state(
        self, agent_id: str, change: StateChange, *, reason: str | None = None,
        until: datetime | None = None,
    ) -> AgentView:
        """Available (or back): away and focus end. Away (with a reason) ends focus; focus
        (until a time, or until turned off) ends away. Returns the agent as now derived."""
        self._check_agent(agent_id)
        if change is StateChange.AWAY:
            self._check_reason(reason)
            assert reason is not None
            await self._store_state(agent_id, PutKey(away_key(agent_id), reason, "away"),
                                    DeleteKey(focus_key(agent_id), "away instead"))
            log.info("away for %s: %s", agent_id, reason)
        elif change is StateChange.FOCUS:
            focus = self._focus(agent_id, until)
            await self._store_state(agent_id, PutKey(focus.key, focus.encode(), "focus on"),
                                    DeleteKey(away_key(agent_id), "focus instead"))
            log.info("focus on for %s until %s", agent_id,
                     until.isoformat() if until else "turned off")
        else:
            await self._store_state(agent_id, DeleteKey(away_key(agent_id), change.value),
                                    DeleteKey(focus_key(agent_id), change.value))
            log.info("%s is %s", agent_id, change.value)
        await self._settle_agent(agent_id)
        return self.agent_view(agent_id)

    # ---- manual changes (CLI and API) ----

    def _check_group_agent(self, group_id: str, agent_id: str) -> None:
        if group_id not in {g.id for g in self.site.hunt_groups}:
            raise UnknownName("group", f"unknown hunt group {group_id!r}")
        self._check_agent(agent_id)

    def _check_agent(self, agent_id: str) -> None:
        if agent_id not in {a.id for a in self.site.agents}:
            raise UnknownName("agent", f"unknown agent {agent_id!r}")

    async def override(self, group_id: str, agent_id: str, action: OverrideAction) -> Override:
        """Join, leave, pause or unpause by hand, until the agent's next shift boundary."""
        self._check_group_agent(group_id, agent_id)
        group = self.site.hunt_group(group_id)
        now = self.clock.now()
        until = roster.override_until(group, self.site.zone(group), agent_id, now)
        entry = Override(group_id, agent_id, action, int(until.timestamp()))
        await self._store(PutKey(entry.key, entry.encode(), f"manual {action.value}"))
        log.info("manual %s of %s in %s until %s", action.value, agent_id, group_id, until.isoformat())
        await self._settle()
        return entry

    async def set_focus(self, agent_id: str, until: datetime | None) -> Focus:
        """Put an agent in focus, until a time or until turned off."""
        self._check_agent(agent_id)
        focus = self._focus(agent_id, until)
        await self._store_state(agent_id, PutKey(focus.key, focus.encode(), "focus on"))
        log.info("focus on for %s until %s", agent_id, until.isoformat() if until else "turned off")
        await self._settle_agent(agent_id)
        return focus

    def _focus(self, agent_id: str, until: datetime | None) -> Focus:
        if until is not None and until <= self.clock.now():
            raise EngineError("until", "must be in the future")
        # Rounded up: a focus that ends within the second is still a focus.
        return Focus(agent_id, None if until is None else math.ceil(until.timestamp()))

    async def clear_focus(self, agent_id: str) -> None:
        self._check_agent(agent_id)
        await self._store_state(agent_id, DeleteKey(focus_key(agent_id), "focus off"))
        log.info("focus off for %s", agent_id)
        await self._settle_agent(agent_id)

    async def link_case(self, number: str, agent_id: str) -> None:
        """Let a caller reach the agent who owns their case, even in focus."""
        self._check_agent(agent_id)
        await self._store(PutKey(case_key(number), agent_id, "case link"))
        log.info("case link %s -> %s", number, agent_id)

    async def unlink_case(self, number: str) -> None:
        state = await self.read_state()
        if number not in state.stored.cases:
            raise UnknownName("number", f"no case is linked to {number}")
        await self._store(DeleteKey(case_key(number), "case unlink"))
        log.info("case link %s removed", number)

    async def _store(self, command: PutKey | DeleteKey) -> None:
        # Unlike the engine's own sync, a refused store is the caller's to hear about.
        await self.port.apply(command)
        self._remember(command)

    async def _store_state(self, agent_id: str, *commands: PutKey | DeleteKey) -> None:
        """Store an agent's focus or away keys, all at once, showing the new state first:
        the lamps need not wait for the PBX's answers. If the PBX refuses any of them, the
        state shown goes back to what was stored before and the caller hears why (a
        deleted key that was absent is not a refusal)."""
        before = self._stored
        for command in commands:
            self._remember(command)
        results = await asyncio.gather(*(self.port.apply(c) for c in commands),
                                       return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if not failed:
            return
        # Nothing is assumed of the stores that went through: the next read says.
        if self._views:
            self._stored = replace(self._stored, focus=before.focus, away=before.away)
            self._refresh(self.clock.now(), [agent_id])
        self.wake()
        raise failed[0]

    def _remember(self, command: PutKey | DeleteKey) -> None:
        """Keep a focus or away just stored in the engine's view of the PBX, and show the
        agent's new state at once: phones and the stream need not wait for the full
        read that follows (which derives the same state, so nothing is sent twice)."""
        key = command.key
        if key.family not in (Family.FOCUS, Family.AWAY) or not self._views:
            return
        (agent,) = key.parts
        focus = dict(self._stored.focus)
        away = dict(self._stored.away)
        if isinstance(command, DeleteKey):
            (focus if key.family is Family.FOCUS else away).pop(agent, None)
        else:
            parsed = parse_keys({key: command.value})
            focus.update(parsed.focus)
            away.update(parsed.away)
        self._stored = replace(self._stored, focus=focus, away=away)
        if agent in self._views:
            self._refresh(self.clock.now(), [agent])

    async def _settle_agent(self, agent_id: str) -> None:
        """Apply an agent's state just stored: only the queues they are or could be in
        are read and put right (a state set over the API costs the PBX one agent's
        queues, not a read of the whole site while it notifies the phones)."""
        queues = self._queues_of(agent_id)
        if queues:
            try:
                await self.sync(queues)
            except PbxPortError as exc:
                log.warning("change stored; it applies when the PBX answers again (%s)", exc)
                self.wake()
                return
        # A focus until a time ends by itself: the loop must wake for it.
        self._reschedule(next_wakeup(self.site, self.clock.now(), self._stored))

    def _queues_of(self, agent_id: str) -> frozenset[str]:
        """The queues an agent's focus or away can change: hunt groups that roster them
        or hold an override of theirs, skill queues of their skills, and wherever they
        are now."""
        overridden = {group for group, agent, _ in self._stored.overrides if agent == agent_id}
        skills_now = self._skills.get(agent_id, {})
        return frozenset(
            [g.id for g in self.site.hunt_groups if agent_id in g.roster or g.id in overridden]
            + [q.id for q in self.site.queues if q.skill in skills_now]
            + [queue for queue, agents in self._in_queue.items() if agent_id in agents]
        )

    async def _settle(self) -> None:
        """Apply a change just stored in the PBX now, if the PBX lets us.

        The change is stored either way, so a failed sync here is not the caller's
        error: the background loop applies it when the PBX answers again.
        """
        try:
            await self.sync()
        except PbxPortError as exc:
            log.warning("change stored; it applies when the PBX answers again (%s)", exc)
        self.wake()  # the background loop may be sleeping on an older deadline

    async def status(self) -> tuple[list[GroupStatus], StoredState]:
        """Each hunt group's members and roster, and the stored state."""
        groups, _, stored = await self.full_status()
        return groups, stored

    async def full_status(self) -> tuple[list[GroupStatus], list[GroupStatus], StoredState]:
        """Hunt groups (members, on duty), skill queues (members, by ring level), and
        the stored state, from one read of the PBX."""
        state = await self.read_state()
        now = self.clock.now()
        groups = [
            GroupStatus(
                g.id,
                [m for m in state.members if m.queue == g.id],
                sorted(roster.on_duty(g, self.site.zone(g), now)),
            )
            for g in self.site.hunt_groups
        ]
        queues = [
            GroupStatus(
                q.id,
                sorted((m for m in state.members if m.queue == q.id),
                       key=lambda m: (m.level, m.agent)),
                [],
            )
            for q in self.site.queues
        ]
        return groups, queues, state.stored

    # ---- skills (runtime edits over the site file) and the expert finder ----

    def skills_of(self, agent_id: str) -> dict[str, int]:
        """The agent's skills now: the site file's, with edits made since the start."""
        self._check_agent(agent_id)
        return dict(self._skills[agent_id])

    async def set_skill(self, agent_id: str, skill: str, level: int) -> None:
        """Give an agent a skill at a level (1-5): skill-queue membership follows at once."""
        self._check_agent(agent_id)
        _check_skill(skill)
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 5:
            raise EngineError("level", f"{shown(str(level))} is not a level: use 1-5")
        self._skills[agent_id][skill] = level
        log.info("skill %s of %s set to %s", skill, agent_id, level)
        await self._settle_skill(skill)
        self._refresh(self.clock.now(), [agent_id])

    async def delete_skill(self, agent_id: str, skill: str) -> None:
        """Take a skill from an agent: they leave its queues (after a call in progress)."""
        self._check_agent(agent_id)
        _check_skill(skill)
        if self._skills[agent_id].pop(skill, None) is None:
            raise UnknownName("skill", f"{agent_id} has no skill {skill!r}")
        log.info("skill %s of %s removed", skill, agent_id)
        await self._settle_skill(skill)
        self._refresh(self.clock.now(), [agent_id])

    async def _settle_skill(self, skill: str) -> None:
        # Only the queues of that skill can change: read and put right those alone.
        queues = frozenset(q.id for q in self.site.queues if q.skill == skill)
        if not queues:
            return
        try:
            await self.sync(queues)
        except PbxPortError as exc:
            log.warning("skill changed; it applies when the PBX answers again (%s)", exc)
            self.wake()

    async def availability(self) -> dict[str, Availability]:
        """Every agent: registered, in focus, busy, on duty in which hunt groups."""
        state = await self.read_state()
        now = self.clock.now()
        reach = self._reach(state, now)
        busy = {m.agent for m in state.members if m.busy}
        duty: dict[str, list[str]] = {}
        for group in self.site.hunt_groups:
            for agent in roster.on_duty(group, self.site.zone(group), now):
                duty.setdefault(agent, []).append(group.id)
        return {
            a.id: Availability(
                a.id, reach[a.id].registered, reach[a.id].in_focus, a.id in busy,
                tuple(duty.get(a.id, ())),
            )
            for a in self.site.agents
        }

    async def experts(self, skill: str, min_level: int = 1) -> list[Expert]:
        """Agents with `skill` at `min_level` or above: available first, then the most
        skilled, then by name."""
        _check_skill(skill)
        if isinstance(min_level, bool) or not 1 <= min_level <= 5:
            raise EngineError("min_level", f"{shown(str(min_level))} is not a level: use 1-5")
        found = await self.availability()
        names = {a.id: a.name for a in self.site.agents}
        out = [
            Expert(agent, names[agent], level, found[agent])
            for agent, theirs in self._skills.items()
            if (level := theirs.get(skill, 0)) >= min_level
        ]
        order = list(AgentState)
        out.sort(key=lambda e: (order.index(e.availability.state), -e.level, e.name, e.agent))
        return out


def _shown(entries: Sequence[Member]) -> set[tuple[str, Hold | None, MemberState]]:
    """What of an agent's entries their presence can show."""
    return {(m.queue, m.hold, m.state) for m in entries}


def _after(members: Sequence[Member], done: Sequence[Command]) -> tuple[Member, ...]:
    """The members as `done` (commands the port took) leave them, near enough for
    showing: a new entry's ref is not known until the next read."""
    out = {(m.queue, m.ref): m for m in members}
    for command in done:
        if isinstance(command, Join):
            ref = f"new:{command.agent}"
            out[(command.queue, ref)] = Member(command.queue, command.agent, ref,
                                               hold=command.hold, level=command.level)
        elif isinstance(command, Leave):
            out.pop((command.queue, command.ref), None)
        elif isinstance(command, SetHold | SetLevel) and (command.queue, command.ref) in out:
            m = out[(command.queue, command.ref)]
            out[(command.queue, command.ref)] = (
                replace(m, hold=command.hold, hold_reason="") if isinstance(command, SetHold)
                else replace(m, level=command.level))
    return tuple(out.values())


def _check_skill(skill: str) -> None:
    if not ID_RE.fullmatch(skill):
        raise EngineError("skill", f"{shown(skill)} is not a skill id: use 1-40 of a-z, 0-9, '_' and '-'")
