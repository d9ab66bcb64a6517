"""The engine's callback dialler: after each sync, call waiting callers back through
free agents; the PBX forgets a request once its caller answered.

Which request goes to which agent is `telephony.routing.callback.assign`; this module
does the I/O around it. Before placing a callback it stores the try on the request
(`telephony.routing.callback.tried`: one more try, under way and then resting until a
time), so neither this engine nor one started after it dials that caller again while
the callback may still ring. The dialplan deletes the request when the caller answers;
one still stored once its rest is over was not served (the agent or the caller did not
answer) and is tried again, up to `MAX_TRIES`, then deleted with a warning. A request
the PBX refuses gets its previous value back and is offered again next round.

The agents whose callback is under way are the one thing held here rather than in the
PBX: an agent is spoken for from the moment the PBX takes their callback until the PBX
reports their call over (or, if it never reports them ringing, their ring timeout and
a margin later). After a restart that knowledge is gone, which costs at most one
agent being offered a second callback while the PBX still shows them idle.

Wiring (Engine): build one `CallbackDialler(site, port)` with the engine, and at the
end of every sync, under the engine's lock:

    done = await self._callbacks.run(state.members, state.stored, now)
    self._deadline = earliest(self._deadline, done.next_check)

The PBX tells the engine neither of a new request nor of an agent becoming free, so
`next_check` asks for another round soon (POLL) while requests wait or callbacks are
under way, when a resting request falls due, a little later (LISTEN) on a site whose
skill queues take callback requests, and is None on a site where there can be none.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from telephony.config.models import Site
from telephony.port import (
    DeleteKey,
    Member,
    MemberState,
    PbxPort,
    PbxPortError,
    PbxRefused,
    PutKey,
)
from telephony.routing.callback import (
    MAX_TRIES,
    Dial,
    Request,
    UnderWay,
    assign,
    callback_trunk,
    due,
    exhausted,
    next_due,
    requests,
    tried,
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

    def __repr__(self) -> str:
        return f"<CallbackDialler under_way={len(self._attempts)}>"

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
        stamp = now.timestamp()
        self._follow(members, stamp)
        stored_requests = requests(stored.callbacks)
        for request, why in unusable(self.site, stored_requests):
            log.warning("callback request of %s in %s dropped: %s", request.caller,
                        request.queue, why)
            await self._forget(request, f"cannot be served: {why}")
        for request in exhausted(stored_requests, stamp):
            log.warning("callback request of %s in %s dropped: not reached in %d tries",
                        request.caller, request.queue, request.tries)
            await self._forget(request, f"not reached in {MAX_TRIES} tries")
        pending = due(stored_requests, stamp)
        by_place = {(r.queue, r.caller): r for r in pending}
        placed: list[Dial] = []
        for dial in assign(self.site, pending, members, self.under_way):
            request = by_place[(dial.queue, dial.caller)]
            key = callback_key(dial.queue, dial.caller)
            ring = self._ring.get(dial.agent, 0)
            try:
                # Marked first: a callback placed is never unmarked by a crash after it.
                await self.port.apply(PutKey(
                    key, tried(request, ring, stamp).encode(),
                    f"callback try {request.tries + 1} through {dial.agent}",
                ))
            except PbxPortError as exc:
                log.warning("callbacks wait for the PBX: %s", exc)
                break
            log.info("%s", dial)
            try:
                await self.port.call_back(dial.agent, dial.caller, dial.queue)
            except PbxPortError as exc:
                # Not placed: the request as it was, offered again next round.
                log.warning("callback of %s through %s not placed: %s",
                            dial.caller, dial.agent, exc)
                await self._restore(request)
                if isinstance(exc, PbxRefused):
                    continue
                break
            self._attempts[dial.agent] = _Attempt(dial, stamp + ring + SETTLE_SECONDS)
            placed.append(dial)
        waiting = len(pending) > len(placed)
        if self._attempts or waiting:
            return CallbackRound(tuple(placed), now + POLL)
        later = next_due(stored_requests, stamp)
        check = now + LISTEN if self._listening else None
        if later is not None:
            check = earliest(check, datetime.fromtimestamp(later, now.tzinfo))
        return CallbackRound(tuple(placed), check)

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

    async def _restore(self, request: Request) -> None:
        command = PutKey(callback_key(request.queue, request.caller),
                         request.stored.encode(), "callback not placed")
        try:
            await self.port.apply(command)
        except PbxPortError as exc:
            # Left marked: it rests, then is tried again (one try counted too many).
            log.warning("%s: %s", command, exc)

    async def _forget(self, request: Request, why: str) -> None:
        command = DeleteKey(callback_key(request.queue, request.caller), why)
        log.info("%s", command)
        try:
            await self.port.apply(command)
        except PbxPortError as exc:
            log.warning("%s (tried again next round)", exc)
