"""The engine's port onto Asterisk: app_queue members and AstDB keys, through AMI.

Neutral words in, Asterisk's out, and back: a member is an app_queue entry keyed by its
interface (`PJSIP/<device>` or `Local/<extension>@tel-member/n`, state interface
`hint:<extension>@tel-state`, see `telephony.asterisk.names`); our holds are pauses
with a reason starting `telephony:`; keys live in AstDB under `telephony/`
(`telephony.asterisk.astdb`). Nothing of that leaves this module.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Mapping

from telephony.asterisk import astdb, callback, names, presence, registrations, transfer
from telephony.asterisk.ami import (
    AmiAuthError,
    AmiClient,
    AmiConnectionError,
    AmiError,
    AmiFilterError,
    AmiTimeout,
    ConnectionState,
    EventFilter,
    Subscription,
)
from telephony.asterisk.ami.events import (
    Event,
    ExtensionStatus,
    QueueMember,
    QueueMemberEvent,
    Response,
)
from telephony.asterisk.names import member_interface, state_interface
from telephony.config.models import Site
from telephony.port import (
    Change,
    ChangeKind,
    Command,
    DeleteKey,
    Hold,
    Join,
    Key,
    Leave,
    LiveCall,
    Member,
    MemberState,
    PbxAuthError,
    PbxPortError,
    PbxRefused,
    PbxUnavailable,
    Publish,
    PutKey,
    SetHold,
    SetLevel,
    Snapshot,
)

log = logging.getLogger(__name__)

NOTE_AFTER = 0.1
"""Seconds from a publication's lamps to its note: time for Asterisk to send the lamps'
NOTIFYs to a few hundred watchers (about 35 ms for 200 here) before the note's (which
dialog-info watchers get too) start."""

# Our pause reasons: everything else is someone else's pause, never undone.
OURS = "telephony:"
LEAVING_REASON = f"{OURS}leaving-after-call"
MANUAL_REASON = f"{OURS}manual"
_REASON = {Hold.LEAVING: LEAVING_REASON, Hold.MANUAL: MANUAL_REASON}

# The events the engine needs, and the only ones Asterisk sends on its connection
# (AmiClient wanted_events, a per-connection server-side filter): someone else changed
# a queue, or the call of a member held to leave ended. A member's status travels only
# while it carries our leaving reason, so an ordinary hunt-group call sends the engine
# no event at all (bench/surge.py --count-events). Presence and skills add theirs here.
#
# FullyBooted: AMI lets a login in before Asterisk has loaded its modules (QueueStatus
# is then "Invalid/unknown command"); Asterisk sends this event to a session once it
# has booted (at once if it already had), so the engine re-reads then too.
# ContactStatus: a device registered, went away or changed reachability (skill queues
# ring only registered agents); never raised by a call.
# ExtensionStatus of the agents' queue state hints (context tel-state: their devices
# alone) alone: what each agent's phones do, for presence; one event per change of an
# agent's state, not per device or call leg, and none for the BLF hints (tel-hints).
# UserEvent TelephonyKey: a phone key (feature code) changed an agent's duty or focus.
AMI_EVENTS: frozenset[str | EventFilter] = frozenset({
    "QueueMemberAdded", "QueueMemberRemoved", "FullyBooted", registrations.CONTACT_EVENT,
    EventFilter("QueueMemberStatus", header="PausedReason", starts_with=LEAVING_REASON),
    EventFilter("QueueMemberPause", header="PausedReason", starts_with=LEAVING_REASON),
    EventFilter("ExtensionStatus", header="Context", starts_with=names.STATE),
    EventFilter("UserEvent", header="UserEvent", starts_with=names.KEY_EVENT),
})
_MEMBERSHIP = frozenset({"QueueMemberAdded", "QueueMemberRemoved"})
_WATCHED = _MEMBERSHIP | {
    "QueueMemberStatus", "QueueMemberPause", "Reconnected", "Disconnected", "FullyBooted",
    registrations.CONTACT_EVENT, "ExtensionStatus", "UserEvent",
}

# app_queue's device states (AST_DEVICE_*), in neutral words.
_STATES = {
    0: MemberState.UNKNOWN,
    1: MemberState.IDLE,
    2: MemberState.ON_CALL,  # in use
    3: MemberState.ON_CALL,  # busy
    4: MemberState.UNAVAILABLE,  # invalid
    5: MemberState.UNAVAILABLE,
    6: MemberState.RINGING,
    7: MemberState.ON_CALL,  # ringing while in use
    8: MemberState.ON_CALL,  # on hold
}


def hold_of(paused: bool, reason: str) -> Hold | None:
    """Which hold a paused app_queue member has, from its pause reason."""
    if not paused:
        return None
    if reason == LEAVING_REASON:
        return Hold.LEAVING
    if reason.startswith(OURS):
        return Hold.MANUAL
    return Hold.EXTERNAL


def member_of(event: QueueMemberEvent, site: Site) -> Member:
    """A neutral member from app_queue's view of it."""
    state = MemberState.ON_CALL if event.in_call else _STATES.get(event.status, MemberState.UNKNOWN)
    current = True
    agents = {a.id: a for a in site.agents}
    agent = agents.get(event.member_name)
    if agent is not None:
        # A state interface cannot be changed in place: an entry watching another one
        # (an older release's `hint:<agent id>@tel-state`) is replaced.
        current = event.interface == member_interface(agent) and (
            not event.state_interface or event.state_interface == state_interface(agent)
        )
    return Member(
        queue=event.queue,
        agent=event.member_name,
        ref=event.interface,
        hold=hold_of(event.paused, event.paused_reason),
        state=state,
        level=event.penalty + 1,
        current=current,
        hold_reason="" if event.paused_reason.startswith(OURS) else event.paused_reason,
    )


class _Watch:
    def __init__(self, subscription: Subscription, on_close: Callable[[], None]) -> None:
        self._subscription = subscription
        self._on_close: Callable[[], None] | None = on_close

    def close(self) -> None:
        self._subscription.close()
        if self._on_close is not None:
            self._on_close()
            self._on_close = None


class AsteriskPort:
    """A `PbxPort` over one AMI connection (`connect()` opens one filtered for the engine)."""

    name = "asterisk"

    def __init__(self, site: Site, client: AmiClient, *, owns_client: bool = False) -> None:
        self.site = site
        self.client = client
        self._owns_client = owns_client
        self._agents = {a.id: a for a in site.agents}
        self._device_agents = {d.id: a.id for a in site.agents for d in a.devices}
        self._extension_agents = {a.extension: a.id for a in site.agents}
        # Kept current by the events every watch() hears; without a watch nothing keeps
        # it, so each snapshot lists the contacts again.
        self._contacts = registrations.ContactBook()
        self._watches = 0
        self._notes: dict[str, asyncio.Task[None]] = {}  # agent -> their note on its way
        self.note_after = NOTE_AFTER

    def __repr__(self) -> str:
        return f"<AsteriskPort {self.client!r}>"

    @classmethod
    async def connect(cls, site: Site, host: str = "127.0.0.1") -> AsteriskPort:
        """Log in to the site's AMI with the engine's event filter.

        Raises PbxAuthError for a refused secret or filter (never retried), PbxUnavailable
        when AMI cannot be reached.
        """
        client = AmiClient(
            host, site.pbx.control_port, site.pbx.control_username, site.pbx.control_secret,
            wanted_events=AMI_EVENTS,
        )
        try:
            await client.connect()
        except AmiFilterError as exc:
            raise PbxAuthError(str(exc), field="pbx.control_username") from exc
        except AmiAuthError as exc:
            raise PbxAuthError(str(exc)) from exc
        except AmiError as exc:
            await client.close()
            raise PbxUnavailable(str(exc)) from exc
        return cls(site, client, owns_client=True)

    @property
    def last_error(self) -> BaseException | None:
        """Why the connection last failed, for the engine's last words."""
        return self.client.last_error

    async def snapshot(self, queues: Collection[str] | None = None) -> Snapshot:
        try:
            # One queue's listing costs app_queue that queue only; all of them, every
            # member of every queue (thousands on a large site).
            asks: list[dict[str, str]] = (
                [{}] if queues is None else [{"Queue": q} for q in sorted(queues)]
            )
            listings = [await self.client.send_list("QueueStatus", ask) for ask in asks]
            for listing in listings:
                if not listing.response.success:
                    # "QueueStatus failed" while app_queue loads is not an empty PBX.
                    raise PbxUnavailable(f"QueueStatus refused: {listing.response.message}")
            members = tuple(
                member_of(e, self.site) for listing in listings for e in listing.events
                if isinstance(e, QueueMember)
            )
            tree = await self.client.db_get_tree(astdb.ROOT)
            devices = await self._registered(full=queues is None)
            # Phones only in a full read: a skill edit needs none, and the engine keeps
            # them current from PHONE_STATE changes meanwhile.
            phones = await self._phones() if queues is None else None
        except (AmiConnectionError, AmiTimeout) as exc:
            raise PbxUnavailable(str(exc)) from exc
        except AmiError as exc:
            raise PbxRefused(str(exc)) from exc
        keys: dict[Key, str] = {}
        for path, value in tree.items():
            key = astdb.key_of(path)
            if key is not None:
                keys[key] = value
        registered = None if devices is None else frozenset(
            self._device_agents[d] for d in devices if d in self._device_agents
        )
        return Snapshot(members, keys, registered, phones)

    async def _phones(self) -> dict[str, MemberState] | None:
        """What every agent's devices do now, from one ExtensionStateList (their queue
        state hints); None when Asterisk cannot tell."""
        listing = await self.client.send_list("ExtensionStateList")
        if not listing.response.success:
            return None
        phones = dict.fromkeys(self._agents, MemberState.UNKNOWN)
        for event in listing.events:
            if isinstance(event, ExtensionStatus):
                found = presence.phone_state(event, self._extension_agents)
                if found is not None:
                    phones[found[0]] = found[1]
        return phones

    async def _registered(self, *, full: bool) -> frozenset[str] | None:
        """The devices registered now. A one-queue snapshot (a skill edit) reads them from
        the contact book, as listing every contact costs ~75 ms on a 1,000-device site
        (bench/skill_edit.py); a full snapshot lists them again, so the periodic re-sync
        also corrects the book."""
        book = self._contacts
        if not full and self._watches and book.known:
            return book.devices()
        listing = book.begin()
        try:
            contacts = await registrations.list_contacts(self.client)
        except BaseException:
            book.abandon(listing)
            raise
        if contacts is None:
            book.abandon(listing)
            return None
        book.load(listing, contacts)
        return book.devices()

    async def apply(self, command: Command) -> None:
        if isinstance(command, Publish):
            await self._publish(command)
            return
        action, headers = self._action(command)
        try:
            response = await self.client.send(action, headers)
        except (AmiConnectionError, AmiTimeout) as exc:
            raise PbxUnavailable(f"{action}: {exc}") from exc
        except AmiError as exc:
            raise PbxRefused(f"{action}: {exc}") from exc
        if not response.success and not _absent_is_fine(command, response):
            raise PbxRefused(f"{action} refused: {response.message}")

    def _action(self, command: Command) -> tuple[str, Mapping[str, str]]:
        if isinstance(command, Join):
            agent = self._agents[command.agent]
            headers = {
                "Queue": command.queue, "Interface": member_interface(agent),
                "MemberName": agent.id, "StateInterface": state_interface(agent),
                "Penalty": str(command.level - 1),
                "Paused": "true" if command.hold is not None else "false",
            }
            if command.hold is not None:
                headers["Reason"] = _REASON.get(command.hold, MANUAL_REASON)
            return "QueueAdd", headers
        if isinstance(command, Leave):
            return "QueueRemove", {"Queue": command.queue, "Interface": command.ref}
        if isinstance(command, SetHold):
            headers = {
                "Queue": command.queue, "Interface": command.ref,
                "Paused": "true" if command.hold is not None else "false",
            }
            if command.hold is not None:
                headers["Reason"] = _REASON.get(command.hold, MANUAL_REASON)
            return "QueuePause", headers
        if isinstance(command, SetLevel):
            return "QueuePenalty", {
                "Queue": command.queue, "Interface": command.ref,
                "Penalty": str(command.level - 1),
            }
        if isinstance(command, PutKey):
            family, key = astdb.location(command.key)
            return "DBPut", {"Family": family, "Key": key, "Val": command.value}
        if isinstance(command, Publish):
            raise PbxRefused(f"{command}: a publication is several actions (apply it)")
        family, key = astdb.location(command.key)
        return "DBDel", {"Family": family, "Key": key}

    async def _publish(self, command: Publish) -> None:
        """The lamps' Setvars at once (one round trip), then the note's, NOTE_AFTER later
        (see telephony.asterisk.presence); a newer publication of the agent replaces a
        note not yet sent."""
        if command.agent not in self._agents:
            raise PbxRefused(f"{command}: no such agent")
        await self._setvars(command, presence.lamp_setvars(command))
        # Replaced, not cancelled: a note already on the wire is left to finish (the
        # newer one goes after it on the same connection).
        self._notes[command.agent] = asyncio.create_task(
            self._note(command), name=f"telephony-note-{command.agent}")

    async def _note(self, command: Publish) -> None:
        try:
            await asyncio.sleep(self.note_after)
            if self._notes.get(command.agent) is not asyncio.current_task():
                return  # a newer publication's note follows
            await self._setvars(command, [presence.note_setvar(command)])
        except PbxPortError as exc:
            # The lamps are right; a PBX that is back says RESYNC and everyone is
            # published again, notes included.
            log.warning("%s: the note was not set: %s", command, exc)
        finally:
            if self._notes.get(command.agent) is asyncio.current_task():
                del self._notes[command.agent]

    async def _setvars(self, command: Publish, actions: list[dict[str, str]]) -> None:
        try:
            responses = await asyncio.gather(*(
                self.client.send("Setvar", headers) for headers in actions
            ))
        except (AmiConnectionError, AmiTimeout) as exc:
            raise PbxUnavailable(f"Setvar: {exc}") from exc
        except AmiError as exc:
            raise PbxRefused(f"Setvar: {exc}") from exc
        for response in responses:
            if not response.success:
                raise PbxRefused(f"{command}: Setvar refused: {response.message}")

    def watch(self, on_change: Callable[[Change], None]) -> _Watch:
        # The book is fed here, in the same callback that tells the engine, so a
        # snapshot the engine takes on a registration change already sees it.
        book = self._contacts

        def on_event(event: Event) -> None:
            if event.name in ("Reconnected", "FullyBooted"):
                book.forget()
                on_change(Change(ChangeKind.RESYNC))
            elif event.name == "Disconnected":
                book.forget()
                # The client gives up only when a re-login is refused (a changed secret).
                if self.client.state is ConnectionState.CLOSED:
                    on_change(Change(ChangeKind.GONE))
            elif isinstance(event, QueueMemberEvent):
                kind = (
                    ChangeKind.MEMBERSHIP if event.name in _MEMBERSHIP
                    else ChangeKind.MEMBER_STATE
                )
                on_change(Change(kind, event.queue, event.member_name))
            elif isinstance(event, ExtensionStatus):
                found = presence.phone_state(event, self._extension_agents)
                if found is not None:
                    on_change(Change(ChangeKind.PHONE_STATE, agent=found[0], state=found[1]))
            elif event.name == "UserEvent":
                keyed = event.get("Agent") or ""
                if event.get("UserEvent") == names.KEY_EVENT and keyed in self._agents:
                    on_change(Change(ChangeKind.KEY, agent=keyed))
            elif event.name == registrations.CONTACT_EVENT:
                book.hear(event)
                agent = self._device_agents.get(registrations.contact_aor(event))
                if agent is not None:
                    on_change(Change(ChangeKind.REGISTRATION, agent=agent))

        subscription = self.client.subscribe(on_event, names=_WATCHED)
        # Events before this watch were heard by no one: list again before trusting it.
        book.forget()
        self._watches += 1
        return _Watch(subscription, self._unwatched)

    def _unwatched(self) -> None:
        self._watches -= 1
        if not self._watches:
            self._contacts.forget()

    async def calls(self) -> tuple[LiveCall, ...]:
        return await transfer.calls(self.client, self.site)

    async def transfer(self, call: LiveCall, number: str, *, attended: bool) -> None:
        await transfer.transfer(self.client, self.site, call, number, attended=attended)

    async def call_back(self, agent: str, caller: str, queue: str) -> None:
        await callback.call_back(self.client, self.site, agent, caller, queue)

    async def close(self) -> None:
        notes, self._notes = list(self._notes.values()), {}
        for task in notes:
            task.cancel()  # the next engine's first read publishes everyone again
        await asyncio.gather(*notes, return_exceptions=True)
        if self._owns_client:
            await self.client.close()


def _absent_is_fine(command: Command, response: Response) -> bool:
    # Older Asterisks say "not found"; 20 says "could not be deleted" (ast_db_del fails).
    message = response.message.lower()
    return isinstance(command, DeleteKey) and (
        "not found" in message or "could not be deleted" in message)
