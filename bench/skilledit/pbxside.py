"""What the bench reads from and sends to each PBX, beside the engine.

Each side has its own connections, apart from the engine's: an observer, which sees a
membership change the way the PBX reports it, and a control connection for counts,
versions and clean-up.

- Asterisk reports every change to app_queue's members as an AMI event:
  QueueMemberAdded, QueueMemberRemoved and QueueMemberPenalty (what a QueuePenalty
  action raises in Asterisk 22). The observer's AMI connection is filtered to those
  three; a change counts as seen when its event is read (the waiter's predicate runs on
  the client's read path).
- mod_callcenter raises no event when a tier is added, deleted or moved. The observer
  polls `callcenter_config queue list tiers <queue>` on its own Event Socket
  connection, back to back, from the moment the API answered until the tiers show the
  change: that measures when the change is in mod_callcenter's database, never before
  the API's answer.

Levels: the PBX's raw level (app_queue's penalty, mod_callcenter's tier level) is the
neutral ring level plus an offset the bench reads off the PBX after the engine's first
sync (penalty = level - 1 on Asterisk; the FreeSWITCH port's mapping is its own), so
the bench never assumes a mapping the port may change.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from telephony.asterisk.ami import AmiClient, AmiTimeout
from telephony.asterisk.ami.events import Event as AmiEvent
from telephony.asterisk.ami.events import QueueMember
from telephony.asterisk.names import member_interface, state_interface
from telephony.config import Site
from telephony.freeswitch import names as fs_names
from telephony.freeswitch.esl import EslClient
from telephony.freeswitch.port import parse_rows

from .site import Change

Raw = dict[str, dict[str, int]]
"""Queue -> agent -> the PBX's own level for the member."""

AMI_WATCHED = ("QueueMemberAdded", "QueueMemberRemoved", "QueueMemberPenalty")
_AMI_EVENT = {"join": "QueueMemberAdded", "leave": "QueueMemberRemoved",
              "level": "QueueMemberPenalty"}


@dataclass
class Expectation:
    """The changes one edit must show on the PBX, and when each was seen."""

    changes: tuple[Change, ...]
    offset: int
    seen_at: dict[tuple[str, str], float] = field(default_factory=dict)
    waiters: list[Awaitable[AmiEvent]] = field(default_factory=list)

    def last_seen(self) -> float | None:
        if len(self.seen_at) < len(self.changes):
            return None
        return max(self.seen_at.values())


class Side(Protocol):
    kind: str
    offset: int

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def version(self) -> str: ...
    async def registered(self, devices: frozenset[str]) -> int: ...
    async def members(self, queues: Iterable[str]) -> Raw: ...
    def expect(self, changes: Iterable[Change]) -> Expectation: ...
    async def seen(self, expectation: Expectation, timeout: float) -> float | None: ...
    async def native(self, changes: Iterable[Change]) -> None: ...
    async def purge(self, queues: Iterable[str], agents: Iterable[str]) -> int: ...


class AsteriskSide:
    kind = "asterisk"

    def __init__(self, site: Site, native_client: AmiClient | None = None) -> None:
        self.site = site
        self.offset = -1
        pbx = site.pbx
        self._args = ("127.0.0.1", pbx.control_port, pbx.control_username, pbx.control_secret)
        self.observer = AmiClient(*self._args, wanted_events=frozenset(AMI_WATCHED))
        self.control = AmiClient(*self._args, wanted_events=frozenset(), action_timeout=30.0)
        # Native changes go out on the engine's own connection when given (like for like).
        self.native_client = native_client
        self._agents = {a.id: a for a in site.agents}

    async def open(self) -> None:
        await self.observer.connect()
        await self.control.connect()

    async def close(self) -> None:
        await self.observer.close()
        await self.control.close()

    async def version(self) -> str:
        text = await self.control.command("core show version")
        found = re.match(r"Asterisk (\S+)", text)
        return found.group(1) if found else text.strip()[:60]

    async def registered(self, devices: frozenset[str]) -> int:
        text = await self.control.command("pjsip show contacts", timeout=30.0)
        found = set(re.findall(r"^\s*Contact:\s+([^/\s<]+)/", text, re.MULTILINE))
        return len(found & devices)

    async def members(self, queues: Iterable[str]) -> Raw:
        wanted = set(queues)
        listing = await self.control.send_list("QueueStatus", timeout=60.0)
        out: Raw = {q: {} for q in wanted}
        for event in listing.events:
            if isinstance(event, QueueMember) and event.queue in wanted:
                out[event.queue][event.member_name] = event.penalty
        return out

    def expect(self, changes: Iterable[Change]) -> Expectation:
        expectation = Expectation(tuple(changes), self.offset)
        for change in expectation.changes:
            expectation.waiters.append(self.observer.wait_event(
                _matcher(change, expectation), timeout=30.0, names=[_AMI_EVENT[change.kind]],
            ))
        return expectation

    async def seen(self, expectation: Expectation, timeout: float) -> float | None:
        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*expectation.waiters)
        except (TimeoutError, AmiTimeout):
            return None
        return expectation.last_seen()

    async def native(self, changes: Iterable[Change]) -> None:
        client = self.native_client or self.control
        for change in changes:
            agent = self._agents[change.agent]
            interface = member_interface(agent)
            if change.after is None:
                action, headers = "QueueRemove", {"Queue": change.queue, "Interface": interface}
            elif change.before is None:
                action, headers = "QueueAdd", {
                    "Queue": change.queue, "Interface": interface, "MemberName": agent.id,
                    "StateInterface": state_interface(agent),
                    "Penalty": str(change.after + self.offset), "Paused": "false",
                }
            else:
                action, headers = "QueuePenalty", {
                    "Queue": change.queue, "Interface": interface,
                    "Penalty": str(change.after + self.offset),
                }
            (await client.send(action, headers)).check(action)

    async def purge(self, queues: Iterable[str], agents: Iterable[str]) -> int:
        """Take every member out of the bench's queues (persistentmembers would keep
        them in AstDB for the next start)."""
        wanted = set(queues)
        listing = await self.control.send_list("QueueStatus", timeout=60.0)
        gone = 0
        for event in listing.events:
            if isinstance(event, QueueMember) and event.queue in wanted:
                await self.control.send(
                    "QueueRemove", {"Queue": event.queue, "Interface": event.interface}
                )
                gone += 1
        return gone


def _matcher(change: Change, expectation: Expectation) -> _Match:
    return _Match(change, expectation)


class _Match:
    """An observer predicate for one change; it notes the time when it matches."""

    def __init__(self, change: Change, expectation: Expectation) -> None:
        self.change = change
        self.expectation = expectation
        self.penalty = None if change.after is None else str(change.after + expectation.offset)

    def __call__(self, event: AmiEvent) -> bool:
        now = time.perf_counter()
        change = self.change
        if event.get("Queue") != change.queue or event.get("MemberName") != change.agent:
            return False
        if self.penalty is not None and event.get("Penalty") != self.penalty:
            return False
        self.expectation.seen_at.setdefault((change.queue, change.agent), now)
        return True


class FreeswitchSide:
    kind = "freeswitch"

    def __init__(self, site: Site, native_client: EslClient | None = None) -> None:
        self.site = site
        self.offset = 0
        pbx = site.pbx
        self._args = ("127.0.0.1", pbx.control_port, pbx.control_secret)
        self.observer = EslClient(*self._args)
        self.control = EslClient(*self._args, command_timeout=60.0)
        self.native_client = native_client
        self._position = {a.id: i + 1 for i, a in enumerate(site.agents)}
        self.polls: list[int] = []  # tier listings read per edit until the change showed

    async def open(self) -> None:
        await self.observer.connect()
        await self.control.connect()

    async def close(self) -> None:
        await self.observer.close()
        await self.control.close()

    async def version(self) -> str:
        text = await self.control.api("version")
        found = re.search(r"FreeSWITCH Version (\S+)", text)
        return found.group(1) if found else text.strip()[:60]

    async def registered(self, devices: frozenset[str]) -> int:
        text = await self.control.api(f"sofia status profile {fs_names.PROFILE} reg", check=False)
        found = set(re.findall(r"^User:\s+([^@\s]+)@", text, re.MULTILINE))
        return len(found & devices)

    async def members(self, queues: Iterable[str]) -> Raw:
        wanted = set(queues)
        text = await self.control.api("callcenter_config tier list")
        out: Raw = {q: {} for q in wanted}
        for row in parse_rows(text):
            if row.get("queue") in wanted:
                out[row["queue"]][row["agent"]] = int(row.get("level", "0"))
        return out

    def expect(self, changes: Iterable[Change]) -> Expectation:
        return Expectation(tuple(changes), self.offset)

    async def seen(self, expectation: Expectation, timeout: float) -> float | None:
        """Poll the queue's tiers until every change shows (one queue per edit)."""
        queues = {c.queue for c in expectation.changes}
        deadline = time.perf_counter() + timeout
        polls = 0
        while time.perf_counter() < deadline:
            tiers: Raw = {}
            for queue in sorted(queues):
                text = await self.observer.api(f"callcenter_config queue list tiers {queue}")
                tiers[queue] = {
                    row["agent"]: int(row.get("level", "0")) for row in parse_rows(text)
                }
            now = time.perf_counter()
            polls += 1
            for change in expectation.changes:
                level = tiers[change.queue].get(change.agent)
                want = None if change.after is None else change.after + self.offset
                if level == want:
                    expectation.seen_at.setdefault((change.queue, change.agent), now)
            if len(expectation.seen_at) == len(expectation.changes):
                self.polls.append(polls)
                return expectation.last_seen()
        self.polls.append(polls)
        return None

    async def native(self, changes: Iterable[Change]) -> None:
        client = self.native_client or self.control
        for change in changes:
            if change.after is None:
                command = f"callcenter_config tier del {change.queue} {change.agent}"
            elif change.before is None:
                command = (f"callcenter_config tier add {change.queue} {change.agent} "
                           f"{change.after + self.offset} {self._position[change.agent]}")
            else:
                command = (f"callcenter_config tier set level {change.queue} {change.agent} "
                           f"{change.after + self.offset}")
            result = await client.api(command, check=False)
            if not result.startswith("+OK"):
                raise RuntimeError(f"{command}: {result.strip()}")

    async def purge(self, queues: Iterable[str], agents: Iterable[str]) -> int:
        """Delete the bench's tiers, and its agents when given (mod_callcenter's
        database outlives FreeSWITCH, and the next site loads its own agents)."""
        found = await self.members(queues)
        gone = 0
        for queue, members in sorted(found.items()):
            for agent in sorted(members):
                await self.control.api(f"callcenter_config tier del {queue} {agent}", check=False)
                gone += 1
        await asyncio.gather(*(
            self.control.api(f"callcenter_config agent del {a}", check=False) for a in agents
        ))
        return gone
