"""The engine's callback dialler: after each sync, call waiting callers back through
free agents, and forget a request once the PBX took it.

Which request goes to which agent is `telephony.routing.callback.assign`; this module
does the I/O around it. A request the PBX refuses stays stored and is tried again on
the next round; one it took is deleted (and a failed delete is retried, never dialled
again). The callbacks under way are the one thing held here rather than in the PBX:
an agent is spoken for from the moment the PBX takes their callback until the PBX
reports their call over (or, if it never reports them ringing, their ring timeout and
a margin later). After a restart that knowledge is gone, which costs at most one
agent being offered a second callback while the PBX still shows them idle.

Wiring (Engine): build one `CallbackDialler(site, port)` with the engine, and at the
end of every sync, under the engine's lock:

    done = await self._callbacks.run(state.members, state.stored, now)
    self._deadline = earliest(self._deadline, done.next_check)

The PBX tells the engine neither of a new request nor of an agent becoming free, so
`next_check` asks for another round soon (POLL) while requests wait or callbacks are
under way, a little later (LISTEN) on a site whose skill queues take callback
requests, and is None on a site where there can be none.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from telephony.config.models import Site
from telephony.port import DeleteKey, Member, MemberState, PbxPort, PbxPortError, PbxRefused
from telephony.routing.callback import (
    Dial,
    Request,
    UnderWay,
    assign,
    callback_trunk,
    requests,
    unusable,
)
from telephony.routing.state import StoredState, callback_key

log = logging.getLogger("telephony.engine")

POLL = timedelta(seconds=2)
"""How soon to look again while requests wait or callbacks are under way."""

LISTEN = timedelta(seconds=10)
"""How soon to look again for new requests while none waits: nothing announces one."""

SETTLE_SECONDS = 10
"""Past the agent's ring timeout, how long a callback the PBX never showed ringing
keeps its agent spoken for (the PBX may report device state late)."""

_BUSY = frozenset({MemberState.RINGING, MemberState.ON_CALL})


@dataclass(slots=True)
class _Attempt:
    dial: Dial
    give_up_at: float
    seen_busy: bool = False


@dataclass(frozen=True, slots=True)
class CallbackRound:
    """What one round did: the callbacks the PBX took, and when to look again."""

    placed: tuple[Dial, ...]
    next_check: datetime | None


def earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    """The sooner of two optional deadlines."""
    if a is None:
        return b
    return a if b is None else min(a, b)


class CallbackDialler:
    """Calls waiting callers back, one round per engine sync (`run`)."""

    def __init__(self, site: Site, port: PbxPort) -> None:
        self.site = site
        self.port = port
        self._ring = {a.id: a.ring_timeout for a in site.agents}
        self._listening = callback_trunk(site) is not None and any(
            q.callback_key is not None for q in site.queues
        )
        self._attempts: dict[str, _Attempt] = {}
        # Requests the PBX took, (queue, caller) -> joined, until a read shows their key
        # gone: never dialled again, and deleted again while the PBX still holds them.
        self._taken: dict[tuple[str, str], int] = {}

    def __repr__(self) -> str:
        return f"<CallbackDialler under_way={len(self._attempts)} taken={len(self._taken)}>"

    @property
    def under_way(self) -> tuple[UnderWay, ...]:
        """The callbacks the PBX took that are not over yet."""
        return tuple(
            UnderWay(agent, a.dial.queue, a.dial.caller) for agent, a in self._attempts.items()
        )

    async def run(
        self, members: Sequence[Member], stored: StoredState, now: datetime
    ) -> CallbackRound:
        """One round: follow the callbacks under way, place the ones `assign` picks."""
        self._follow(members, now.timestamp())
        pending = await self._untaken(requests(stored.callbacks))
        for request, why in unusable(self.site, pending):
            log.warning("callback request of %s in %s dropped: %s", request.caller,
                        request.queue, why)
            await self._forget(request, f"cannot be served: {why}")
        placed: list[Dial] = []
        for dial in assign(self.site, pending, members, self.under_way):
            log.info("%s", dial)
            try:
                await self.port.call_back(dial.agent, dial.caller, dial.queue)
            except PbxRefused as exc:
                # Stored still: the next round offers it again (maybe to someone else).
                log.warning("callback of %s through %s refused: %s", dial.caller, dial.agent, exc)
                continue
            except PbxPortError as exc:
                log.warning("callbacks wait for the PBX: %s", exc)
                break
            ring = self._ring.get(dial.agent, 0)
            self._attempts[dial.agent] = _Attempt(dial, now.timestamp() + ring + SETTLE_SECONDS)
            self._taken[(dial.queue, dial.caller)] = dial.joined
            placed.append(dial)
            await self._forget(dial.request, f"called back through {dial.agent}")
        if self._attempts or self._taken or len(pending) > len(placed):
            return CallbackRound(tuple(placed), now + POLL)
        return CallbackRound(tuple(placed), now + LISTEN if self._listening else None)

    def _follow(self, members: Sequence[Member], stamp: float) -> None:
        busy = {m.agent for m in members if m.state in _BUSY}
        for agent, attempt in list(self._attempts.items()):
            if agent in busy:
                attempt.seen_busy = True
            elif attempt.seen_busy:
                log.info("callback of %s through %s is over", attempt.dial.caller, agent)
                del self._attempts[agent]
            elif stamp >= attempt.give_up_at:
                log.info("callback of %s through %s: %s never showed ringing; free again",
                         attempt.dial.caller, agent, agent)
                del self._attempts[agent]

    async def _untaken(self, pending: list[Request]) -> list[Request]:
        """The requests not yet taken; a taken one still stored is deleted again."""
        stored = {(r.queue, r.caller): r for r in pending}
        for where, joined in list(self._taken.items()):
            request = stored.get(where)
            if request is None or request.joined != joined:
                # Deleted, or the caller asked again since (a new request).
                del self._taken[where]
            else:
                await self._forget(request, "called back already")
        return [r for r in pending if self._taken.get((r.queue, r.caller)) != r.joined]

    async def _forget(self, request: Request, why: str) -> None:
        command = DeleteKey(callback_key(request.queue, request.caller), why)
        log.info("%s", command)
        try:
            await self.port.apply(command)
        except PbxPortError as exc:
            log.warning("%s (tried again next round)", exc)
