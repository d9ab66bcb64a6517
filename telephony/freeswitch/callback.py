"""Callbacks on FreeSWITCH: one `bgapi originate` of the agent's devices, bridged on
answer to the caller through the trunk.

The agent's devices ring at once (the same `user/` targets the dialplan bridges to)
for the agent's ring timeout, showing the caller's number. Once one answers, the
agent's leg runs `bridge` to `sofia/<profile>/<caller>@<dial_host>:<dial_port>` with
the skill queue's number as caller ID, and the two talk when the caller answers.

mod_callcenter knows nothing of calls it did not place, so for the callback's length
the agent's mod_callcenter state is `Receiving`: no queue or hunt-group call is
offered to them meanwhile, and the engine reads them as busy, as Asterisk's device
state shows an agent on a callback. Once the agent answered, a hangup hook on that
leg sets them back to `Waiting` when the callback ends, in FreeSWITCH itself; when
nobody answers, or the port closes while the agent's phones still ring, the port
does. While a callback rings, its agent's legs are noted in mod_db
(`telephony_callback_legs`), so a port started after an engine was killed mid-ring
finds the agent and sets them free once those legs are gone (or puts the hook on the
one that was answered): `release_orphans`, run on every full read.

A bgapi job ends only when the originate does (the agent answered or gave up), so
the job runs in the background and `call_back` returns once FreeSWITCH has created
the agent's leg (`uuid_exists`), or refuses when the originate failed before that
(no device registered, say).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Sequence

from telephony.config.models import Site
from telephony.freeswitch import names
from telephony.freeswitch.esl import EslClient, EslConnectionError, EslError, EslTimeout
from telephony.port import PbxRefused, PbxUnavailable
from telephony.routing.callback import CALLER_RING_SECONDS, Outbound, outbound
from telephony.routing.state import callback_key

log = logging.getLogger(__name__)

# mod_callcenter's agent states: offered no call while on a callback, and back after.
ON_CALLBACK = "Receiving"
FREE = "Waiting"

LEGS_REALM = names.REALM_PREFIX + "callback_legs"
"""mod_db realm (and group listing its agents) of the callbacks ringing now: agent ->
`<epoch placed>;<leg uuid>,...`."""

STARTED_WITHIN = 5.0
"""How long FreeSWITCH may take to create the agent's leg before the callback counts
as not taken."""
_POLL = 0.02
_NO_OUTPUT = "-ERR no reply"


def originate(site: Site, call: Outbound, legs: Sequence[str]) -> str:
    """The originate command of a callback; the agent's device legs get the uuids
    `legs`, one per device in the site's order (a `{}` uuid would be every leg's)."""
    agent_vars = ",".join((
        f"origination_caller_id_number={call.caller}",
        f"origination_caller_id_name=Callback-{call.queue.id}",
        f"originate_timeout={call.agent.ring_timeout}",
    ))
    devices = ",".join(
        f"[origination_uuid={leg}]user/{device.id}@{names.domain(site)}"
        for leg, device in zip(legs, call.agent.devices, strict=True)
    )
    realm, key = names.location(callback_key(call.queue.id, call.caller))
    caller_vars = ",".join((
        f"origination_caller_id_number={call.queue.number}",
        f"origination_caller_id_name={call.queue.number}",
        f"originate_timeout={CALLER_RING_SECONDS}",
        # When the caller answers, FreeSWITCH itself deletes the request (served), then
        # its index entry, and stamps a new version, as the dialplan does on a write, so every reader of
        # mod_db reads again. Each api_on_answer* variable runs one command.
        f"api_on_answer_1='db delete/{realm}/{key}'",
        f"api_on_answer_2='group delete:{names.callback_group(call.queue.id)}:{call.caller}'",
        # The first leg's uuid is new for every callback: a fine version stamp.
        f"api_on_answer_3='db insert/{names.META_REALM}/{names.VERSION_KEY}/{legs[0]}'",
    ))
    target = names.trunk_dial_string(call.trunk, call.caller)
    return f"originate {{{agent_vars}}}{devices} &bridge({{{caller_vars}}}{target})"


class Callbacks:
    """Places callbacks over one Event Socket client; `close()` drops the jobs."""

    def __init__(self, client: EslClient, site: Site) -> None:
        self.client = client
        self.site = site
        self._jobs: dict[asyncio.Task[str], str] = {}  # originates still running -> agent

    def __repr__(self) -> str:
        return f"<Callbacks jobs={len(self._jobs)}>"

    async def call_back(self, agent: str, caller: str, queue: str) -> None:
        """Ring the agent, then dial the caller out; returns once the agent's leg exists."""
        try:
            call = outbound(self.site, agent, caller, queue)
        except ValueError as exc:
            raise PbxRefused(f"callback: {exc}") from None
        legs = [str(uuid.uuid4()) for _ in call.agent.devices]
        await self._note(agent, legs)
        await self._set_state(agent, ON_CALLBACK)
        job = asyncio.create_task(self._run(call, legs), name=f"callback-{agent}")
        self._jobs[job] = agent
        job.add_done_callback(self._done)
        try:
            async with asyncio.timeout(STARTED_WITHIN):
                while not job.done():
                    # A leg exists once its device is being rung; an unregistered
                    # device's leg never does.
                    for leg in legs:
                        if await self._api(f"uuid_exists {leg}") == "true":
                            return
                    await asyncio.sleep(_POLL)
        except TimeoutError:
            for leg in legs:
                with contextlib.suppress(PbxRefused):  # no such leg: nothing to stop
                    await self._api(f"uuid_kill {leg}")
            raise PbxUnavailable(
                f"callback of {caller} through {agent}: no call to the agent within "
                f"{STARTED_WITHIN:g} s"
            ) from None
        why = job.result()  # over already: answered at once, or failed before ringing
        if why:
            raise PbxRefused(f"callback of {caller} through {agent}: {why}")

    async def _run(self, call: Outbound, legs: Sequence[str]) -> str:
        """The originate, to its end: "" once the agent answered, else why not."""
        limit = call.agent.ring_timeout + STARTED_WITHIN + 10
        try:
            result = await self.client.bgapi(
                originate(self.site, call, legs), timeout=limit, check=False
            )
        except EslError as exc:
            result = f"-ERR {exc}"
        if result.startswith("+OK"):
            log.info("callback of %s: %s answered", call.caller, call.agent.id)
            await self._free_at_hangup(call.agent.id, result.removeprefix("+OK").strip())
            await self._forget(call.agent.id)
            return ""
        why = result.strip().removeprefix("-ERR").strip() or "no answer"
        log.info("callback of %s: %s did not answer (%s)", call.caller, call.agent.id, why)
        try:
            # The hook runs only on a leg that existed; this also covers one that never did.
            await self._set_state(call.agent.id, FREE)
            await self._forget(call.agent.id)
        except (PbxRefused, PbxUnavailable) as exc:
            log.warning("callback of %s: %s", call.caller, exc)
        return why

    async def _free_at_hangup(self, agent: str, leg: str) -> None:
        """Set the agent free when the answered leg hangs up: a hook on that leg alone.

        Not on every device leg from the start: the legs that lost to the answered one
        hang up at once (LOSE_RACE) and would set the agent free mid-call, and
        FreeSWITCH refuses a `${...}` in a variable set from outside, so the hook
        cannot tell those apart itself.
        """
        hook = f"callcenter_config agent set state {names.agent_name(agent)} {FREE}"
        try:
            await self._api(f"uuid_setvar {leg} api_hangup_hook {hook}")
            if await self._api(f"uuid_exists {leg}") == "true":
                return  # the hook is on a live leg: it runs at the hangup
        except PbxRefused:
            pass  # the leg is gone already
        except PbxUnavailable as exc:
            log.warning("callback through %s: %s", agent, exc)
            return
        await self._set_state(agent, FREE)

    async def _note(self, agent: str, legs: Sequence[str]) -> None:
        # The index first, as everywhere in mod_db: it may list an agent with no note.
        await self._api(f"group insert:{LEGS_REALM}:{agent}")
        await self._api(f"db insert/{LEGS_REALM}/{agent}/{int(time.time())};{','.join(legs)}")

    async def _forget(self, agent: str) -> None:
        try:
            await self._api(f"db delete/{LEGS_REALM}/{agent}")
            await self._api(f"group delete:{LEGS_REALM}:{agent}")
        except (PbxRefused, PbxUnavailable) as exc:
            log.warning("callback through %s: its note stays: %s", agent, exc)

    async def release_orphans(self) -> list[str]:
        """Agents whose callback an engine no longer follows (it was killed while they
        rang): set free once their legs are gone, or the hook put on the one answered
        once the ring is over. Returns the agents released."""
        listed = await self._api(f"group call:{LEGS_REALM}")
        ours = set(self._jobs.values())
        released: list[str] = []
        for agent in sorted({a for a in listed.split(",") if a} - ours):
            note = await self._api(f"db select/{LEGS_REALM}/{agent}")
            placed, _, leg_text = note.partition(";")
            legs = [leg for leg in leg_text.split(",") if leg]
            ring = next((a.ring_timeout for a in self.site.agents if a.id == agent), 0)
            alive = [leg for leg in legs if await self._api(f"uuid_exists {leg}") == "true"]
            if not alive:
                state = await self._api(
                    f"callcenter_config agent get state {names.agent_name(agent)}")
                if state == ON_CALLBACK:  # not since taken by a queue call
                    await self._set_state(agent, FREE)
            elif placed.isdigit() and time.time() > int(placed) + ring + STARTED_WITHIN:
                # Past the ring only an answered leg lives on: free the agent when it ends.
                for leg in alive:
                    await self._free_at_hangup(agent, leg)
            else:
                continue  # still ringing: looked at again on the next read
            log.info("callback through %s: left by an engine that stopped; released", agent)
            await self._forget(agent)
            released.append(agent)
        return released

    async def _set_state(self, agent: str, state: str) -> None:
        await self._api(f"callcenter_config agent set state {names.agent_name(agent)} {state}")

    async def _api(self, command: str) -> str:
        try:
            body = await self.client.api(command, check=False)
        except (EslConnectionError, EslTimeout) as exc:
            raise PbxUnavailable(f"{command.split(' ', 1)[0]}: {exc}") from exc
        except EslError as exc:
            raise PbxRefused(str(exc)) from exc
        if body.startswith(_NO_OUTPUT):
            return ""  # an empty answer (no such key, an empty group)
        if body.startswith(("-ERR", "-USAGE")):
            raise PbxRefused(f"{command!r} refused: {body.strip()}")
        return body.strip()

    def _done(self, job: asyncio.Task[str]) -> None:
        self._jobs.pop(job, None)

    async def close(self) -> None:
        """Stop following the callbacks still ringing, and set their agents free: nobody
        would otherwise (a leg gets its hook only once answered)."""
        ringing = dict(self._jobs)
        for job in ringing:
            job.cancel()
        await asyncio.gather(*ringing, return_exceptions=True)
        for agent in sorted(set(ringing.values())):
            try:
                await self._set_state(agent, FREE)
                await self._forget(agent)
            except (PbxRefused, PbxUnavailable) as exc:
                log.warning("callback through %s: not set free at close: %s", agent, exc)
