"""An in-memory PBX behind the port protocol, for fast engine and API tests.

It keeps queue entries and keys as a PBX would and reports changes like one, but it
rings no phone: it is never evidence of PBX behaviour. Tests drive it directly
(`set_state`, `hold_elsewhere`, `refuse_next`, `go_away`) to stand for what phones and
other tools do to a real PBX.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import replace

from telephony.port import PbxRefused, PbxUnavailable
from telephony.port.model import (
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
    Publish,
    PutKey,
    SetHold,
    SetLevel,
    Snapshot,
)


class _Watch:
    def __init__(self, port: MemoryPort, callback: Callable[[Change], None]) -> None:
        self._port = port
        self._callback = callback

    def close(self) -> None:
        self._port._watchers.discard(self)

    def __call__(self, change: Change) -> None:
        self._callback(change)


class MemoryPort:
    """A `PbxPort` whose PBX is a dict: entries by (queue, ref), keys by Key."""

    name = "memory"

    def __init__(self) -> None:
        self.members: dict[tuple[str, str], Member] = {}
        self.keys: dict[Key, str] = {}
        self.applied: list[Command] = []
        self._watchers: set[_Watch] = set()
        self._refuse: list[type[Command] | None] = []
        self._unavailable = 0
        self.closed = False
        self.registered: set[str] | None = None  # None: the port cannot tell
        self.live: list[LiveCall] = []
        self.transfers: list[tuple[LiveCall, str, bool]] = []
        self.callbacks: list[tuple[str, str, str]] = []
        self.snapshots: list[frozenset[str] | None] = []  # the queues each read asked for
        self.phones: dict[str, MemberState] | None = None  # None: the port cannot tell
        self.published: dict[str, Publish] = {}  # the last publication per agent

    # -- what tests do to the PBX

    def add_entry(self, member: Member) -> None:
        """An entry made by someone else (another tool, an older site file)."""
        self.members[(member.queue, member.ref)] = member
        self._tell(Change(ChangeKind.MEMBERSHIP, member.queue, member.agent))

    def set_state(self, agent: str, state: MemberState) -> None:
        """The agent's devices started or ended a call (every queue they are in)."""
        for key, m in list(self.members.items()):
            if m.agent == agent and m.state is not state:
                self.members[key] = replace(m, state=state)
                self._tell(Change(ChangeKind.MEMBER_STATE, m.queue, m.agent))

    def hold_elsewhere(self, queue: str, agent: str, reason: str) -> None:
        """The agent paused from their phone: a hold the engine must leave alone."""
        for key, m in list(self.members.items()):
            if m.queue == queue and m.agent == agent:
                self.members[key] = replace(m, hold=Hold.EXTERNAL, hold_reason=reason)
                self._tell(Change(ChangeKind.MEMBER_STATE, queue, agent))

    def refuse_next(self, kind: type[Command] | None = None) -> None:
        """The next command (of that type) is refused, as a PBX sometimes says no."""
        self._refuse.append(kind)

    def unavailable_for(self, calls: int) -> None:
        """The next `calls` reads and commands fail as if the PBX were gone."""
        self._unavailable = calls

    def resync(self) -> None:
        """The connection came back: watchers hear RESYNC."""
        self._tell(Change(ChangeKind.RESYNC))

    def go_away(self) -> None:
        """The PBX stops letting the engine in for good."""
        self._tell(Change(ChangeKind.GONE))

    def register(self, agent: str, registered: bool = True) -> None:
        """A device of the agent registered (or the last one went away)."""
        if self.registered is None:
            self.registered = set()
        (self.registered.add if registered else self.registered.discard)(agent)
        self._tell(Change(ChangeKind.REGISTRATION, agent=agent))

    def set_phone(self, agent: str, state: MemberState) -> None:
        """The agent's devices started or stopped ringing or a call (any call, not only
        a queue's): watchers hear PHONE_STATE."""
        if self.phones is None:
            self.phones = {}
        self.phones[agent] = state
        self._tell(Change(ChangeKind.PHONE_STATE, agent=agent, state=state))

    def entries(self, queue: str) -> list[str]:
        """Agent ids in a queue, sorted, duplicates kept (as tests read a real queue)."""
        return sorted(m.agent for m in self.members.values() if m.queue == queue)

    # -- the port

    def _fail_if_unavailable(self, what: str) -> None:
        if self._unavailable > 0:
            self._unavailable -= 1
            raise PbxUnavailable(f"{what}: the PBX is not answering")

    async def snapshot(self, queues: Collection[str] | None = None) -> Snapshot:
        self._fail_if_unavailable("snapshot")
        self.snapshots.append(None if queues is None else frozenset(queues))
        members = tuple(m for m in self.members.values() if queues is None or m.queue in queues)
        registered = None if self.registered is None else frozenset(self.registered)
        phones = None if self.phones is None else dict(self.phones)
        return Snapshot(members, dict(self.keys), registered, phones)

    async def apply(self, command: Command) -> None:
        self._fail_if_unavailable(type(command).__name__)
        for i, kind in enumerate(self._refuse):
            if kind is None or isinstance(command, kind):
                del self._refuse[i]
                raise PbxRefused(f"{type(command).__name__} refused")
        self.applied.append(command)
        if isinstance(command, Join):
            ref = f"memory/{command.agent}"
            if (command.queue, ref) in self.members:
                raise PbxRefused(f"{command.agent} is already in {command.queue}")
            self.members[(command.queue, ref)] = Member(
                command.queue, command.agent, ref, hold=command.hold, level=command.level
            )
            self._tell(Change(ChangeKind.MEMBERSHIP, command.queue, command.agent))
        elif isinstance(command, Leave):
            if self.members.pop((command.queue, command.ref), None) is None:
                raise PbxRefused(f"{command.agent} is not in {command.queue}")
            self._tell(Change(ChangeKind.MEMBERSHIP, command.queue, command.agent))
        elif isinstance(command, SetHold):
            key = (command.queue, command.ref)
            if key not in self.members:
                raise PbxRefused(f"{command.agent} is not in {command.queue}")
            self.members[key] = replace(self.members[key], hold=command.hold, hold_reason="")
            self._tell(Change(ChangeKind.MEMBER_STATE, command.queue, command.agent))
        elif isinstance(command, SetLevel):
            key = (command.queue, command.ref)
            if key not in self.members:
                raise PbxRefused(f"{command.agent} is not in {command.queue}")
            self.members[key] = replace(self.members[key], level=command.level)
        elif isinstance(command, PutKey):
            self.keys[command.key] = command.value
        elif isinstance(command, DeleteKey):
            self.keys.pop(command.key, None)
        elif isinstance(command, Publish):
            self.published[command.agent] = command

    def watch(self, on_change: Callable[[Change], None]) -> _Watch:
        watch = _Watch(self, on_change)
        self._watchers.add(watch)
        return watch

    def _tell(self, change: Change) -> None:
        for watch in list(self._watchers):
            watch(change)

    async def calls(self) -> tuple[LiveCall, ...]:
        self._fail_if_unavailable("calls")
        return tuple(self.live)

    async def transfer(self, call: LiveCall, number: str, *, attended: bool) -> None:
        self._fail_if_unavailable("transfer")
        if call not in self.live:
            raise PbxRefused(f"no call {call.ref}")
        self.transfers.append((call, number, attended))
        if not attended:
            self.live.remove(call)

    async def call_back(self, agent: str, caller: str, queue: str) -> None:
        self._fail_if_unavailable("call_back")
        self.callbacks.append((agent, caller, queue))

    async def close(self) -> None:
        self.closed = True
