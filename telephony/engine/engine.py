"""The engine: keeps app_queue membership and AstDB state right, through AMI.

It reads what the PBX has (QueueStatus, the `telephony/` AstDB tree), asks the pure
routing core what should be, and sends the difference. It keeps no state of its own
that the PBX does not also hold, so a restarted engine picks up exactly where the last
one stopped, and calls never wait on it.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from telephony.ami import AmiClient, AmiError, EventFilter, Subscription
from telephony.ami.events import Event, QueueMember, QueueMemberEvent
from telephony.config.models import Site
from telephony.routing import astdb, roster
from telephony.routing.astdb import DbState, Focus, Override, OverrideAction
from telephony.routing.clock import Clock
from telephony.routing.membership import (
    LEAVING_REASON,
    AddMember,
    Command,
    Member,
    PauseMember,
    RemoveMember,
    desired,
    next_wakeup,
    plan,
)

log = logging.getLogger("telephony.engine")
_RETRY = timedelta(seconds=5)
_LEAVING_RECHECK = timedelta(seconds=60)

# The PBX events after which membership may need another look: someone else changed
# a queue, or the call of a member leaving after it ended. `telephony run` asks
# Asterisk to send only these on the engine's connection (AmiClient wanted_events),
# and the status of a member only while it carries our leaving-after-call pause
# reason: a hunt-group call then sends the engine no event at all
# (bench/surge.py --count-events). Presence and skills will add theirs here.
AMI_EVENTS: frozenset[str | EventFilter] = frozenset({
    "QueueMemberAdded", "QueueMemberRemoved",
    EventFilter("QueueMemberStatus", header="PausedReason", starts_with=LEAVING_REASON),
    EventFilter("QueueMemberPause", header="PausedReason", starts_with=LEAVING_REASON),
})
# ... and the synthetic Reconnected: the connection came back, everything is re-read.
_WAKE_EVENTS = frozenset({
    "QueueMemberAdded", "QueueMemberRemoved", "QueueMemberStatus", "QueueMemberPause",
    "Reconnected",
})


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

    members: list[Member]
    db: DbState


@dataclass(frozen=True, slots=True)
class GroupStatus:
    group: str
    members: list[Member]
    on_duty: list[str]


class Engine:
    """Drives one PBX for one site. Call `start()`, then `stop()` to finish."""

    def __init__(self, site: Site, ami: AmiClient, clock: Clock) -> None:
        self.site = site
        self.ami = ami
        self.clock = clock
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._subscription: Subscription | None = None
        self._leaving: set[tuple[str, str]] = set()
        self._own: set[tuple[str, str]] = set()
        self._deadline: datetime | None = None

    def __repr__(self) -> str:
        running = self._task is not None and not self._task.done()
        return f"<Engine site={self.site.site!r} running={running}>"

    async def start(self) -> None:
        """Re-sync with the PBX, then keep it in sync in the background.

        The client may be filtered to `AMI_EVENTS` (as `telephony run` does) or get
        everything (the test kit's shared client); the engine works with either.
        """
        # Filtered at the client too: the engine never sees the stream of call events.
        self._subscription = self.ami.subscribe(self._on_event, names=_WAKE_EVENTS)
        try:
            await self.sync()
        except AmiError as exc:
            # AMI lets a login in before Asterisk has loaded app_queue ("QueueStatus
            # failed" right after a PBX start): not fatal, the loop tries again.
            log.warning("first sync failed (%s); trying again in %ss", exc, _RETRY.seconds)
            self._deadline = self.clock.now() + _RETRY
        except BaseException:
            self._subscription.close()
            self._subscription = None
            raise
        self._task = asyncio.create_task(self._run(), name="telephony-engine")

    async def stop(self) -> None:
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def wake(self) -> None:
        """Ask for a sync soon (after an event or an outside change)."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self.clock.sleep_until(self._deadline, self._wake)
            self._wake.clear()
            try:
                await self.sync()
            except AmiError as exc:
                # A Reconnected event wakes us sooner; this is the fallback.
                log.warning("sync failed (%s); trying again when the PBX is back", exc)
                self._deadline = self.clock.now() + _RETRY
            except Exception:
                # A bug must not stop the engine for good while the API looks alive.
                log.exception("sync failed unexpectedly; trying again in %ss", _RETRY.seconds)
                self._deadline = self.clock.now() + _RETRY

    def _on_event(self, event: Event) -> None:
        if isinstance(event, QueueMemberEvent):
            key = (event.queue, event.interface)
            if event.name in ("QueueMemberAdded", "QueueMemberRemoved") and key in self._own:
                return  # our own change echoed back
            if event.name in ("QueueMemberStatus", "QueueMemberPause") and (
                (event.queue, event.member_name) not in self._leaving
            ):
                return  # status changes matter only for a member leaving after a call
        self.wake()

    async def read_state(self) -> PbxState:
        """Read queue members and the `telephony/` AstDB tree from the PBX."""
        listing = (await self.ami.send_list("QueueStatus")).check("QueueStatus")
        members = [_member(e) for e in listing.events if isinstance(e, QueueMember)]
        tree = await self.ami.db_get_tree(astdb.FAMILY)
        return PbxState(members, astdb.parse_tree(tree))

    async def sync(self) -> list[Command]:
        """Bring the PBX in line with the roster, overrides and focus; return what was done."""
        async with self._lock:
            now = self.clock.now()
            state = await self.read_state()
            commands = plan(self.site, desired(self.site, now, state.db), state.members, state.db, now)
            # Known before the commands go out, so the end of a call that ends meanwhile
            # is not mistaken for noise.
            self._leaving = {
                (c.queue, c.agent) for c in commands
                if isinstance(c, PauseMember) and c.reason == LEAVING_REASON
            } | {(m.queue, m.name) for m in state.members if m.paused_reason == LEAVING_REASON}
            self._own = {
                (c.queue, c.interface) for c in commands if isinstance(c, AddMember | RemoveMember)
            }
            for command in commands:
                await self._apply(command)
            self._deadline = next_wakeup(self.site, now, state.db)
            if self._leaving:
                # Belt and braces: a missed end-of-call event costs a minute, not a shift.
                soon = now + _LEAVING_RECHECK
                self._deadline = soon if self._deadline is None else min(self._deadline, soon)
            return commands

    async def _apply(self, command: Command) -> None:
        log.info("%s", command)
        if isinstance(command, AddMember):
            headers = {
                "Queue": command.queue, "Interface": command.interface,
                "MemberName": command.agent, "StateInterface": command.state_interface,
                "Penalty": "0", "Paused": "true" if command.paused else "false",
            }
            action = "QueueAdd"
        elif isinstance(command, RemoveMember):
            headers = {"Queue": command.queue, "Interface": command.interface}
            action = "QueueRemove"
        elif isinstance(command, PauseMember):
            headers = {
                "Queue": command.queue, "Interface": command.interface,
                "Paused": "true" if command.paused else "false",
            }
            if command.reason:
                headers["Reason"] = command.reason
            action = "QueuePause"
        else:
            headers = {"Family": command.family, "Key": command.key}
            action = "DBDel"
        response = await self.ami.send(action, headers)
        if not response.success:
            # The next sync re-reads the PBX and tries again; nothing is assumed done.
            log.warning("%s refused: %s", action, response.message)

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
        await self._put(entry.family, entry.key, entry.encode())
        log.info("manual %s of %s in %s until %s", action.value, agent_id, group_id, until.isoformat())
        await self._settle()
        return entry

    async def set_focus(self, agent_id: str, until: datetime | None) -> Focus:
        """Put an agent in focus, until a time or until turned off."""
        self._check_agent(agent_id)
        now = self.clock.now()
        if until is not None and until <= now:
            raise EngineError("until", "must be in the future")
        # Rounded up: a focus that ends within the second is still a focus.
        focus = Focus(agent_id, None if until is None else math.ceil(until.timestamp()))
        await self._put(astdb.FOCUS, agent_id, focus.encode())
        log.info("focus on for %s until %s", agent_id, until.isoformat() if until else "turned off")
        await self._settle()
        return focus

    async def clear_focus(self, agent_id: str) -> None:
        self._check_agent(agent_id)
        await self.ami.send("DBDel", Family=astdb.FOCUS, Key=agent_id)  # absent is fine too
        log.info("focus off for %s", agent_id)
        await self._settle()

    async def link_case(self, number: str, agent_id: str) -> None:
        """Let a caller reach the agent who owns their case, even in focus."""
        self._check_agent(agent_id)
        await self._put(astdb.CASE, number, agent_id)
        log.info("case link %s -> %s", number, agent_id)

    async def unlink_case(self, number: str) -> None:
        response = await self.ami.send("DBDel", Family=astdb.CASE, Key=number)
        if not response.success and "not found" in response.message.lower():
            raise UnknownName("number", f"no case is linked to {number}")
        if not response.success:
            raise AmiError(f"DBDel {astdb.CASE}/{number} refused: {response.message}")
        log.info("case link %s removed", number)

    async def _settle(self) -> None:
        """Apply a change just stored in AstDB now, if the PBX lets us.

        The change is stored either way, so a failed sync here is not the caller's
        error: the background loop applies it when the PBX answers again.
        """
        try:
            await self.sync()
        except AmiError as exc:
            log.warning("change stored; it applies when the PBX answers again (%s)", exc)
        self.wake()  # the background loop may be sleeping on an older deadline

    async def _put(self, family: str, key: str, value: str) -> None:
        response = await self.ami.send("DBPut", Family=family, Key=key, Val=value)
        if not response.success:
            raise AmiError(f"DBPut {family}/{key} refused: {response.message}")

    async def status(self) -> tuple[list[GroupStatus], DbState]:
        """Each hunt group's members and roster, and the AstDB state."""
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
        return groups, state.db


def _member(event: QueueMember) -> Member:
    return Member(
        queue=event.queue,
        name=event.member_name,
        interface=event.interface,
        paused=event.paused,
        in_call=event.in_call,
        status=event.status,
        paused_reason=event.paused_reason,
        state_interface=event.state_interface,
    )
