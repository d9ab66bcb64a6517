"""Live calls and transfers on FreeSWITCH, through the Event Socket.

Calls are read from `show calls` (bridged pairs of channels) and `show channels`. An
agent's channel is one of their devices: a leg dialled to it carries the presence id
`<extension>@<site domain>` (the device's dial-string in the directory sets it; a leg
from before that names the device); a leg from it arrives
authenticated in `tel-from-internal` as that directory user (`user_name`). Loopback
legs (an attended transfer's call to its target) are followed to the party behind
them. The skill queue or hunt group that put a call through is mod_callcenter's
`cc_queue` of the other party, read while mod_callcenter's bridge holds it.

A blind transfer is `uuid_transfer` of the other party's leg into `tel-from-internal`:
the context of our own phones, where the site's numbers and the urgent prefix work (a
transfer is made by our own agent, even for a caller from a trunk). An attended one
runs mod_dptools' `att_xfer` on the agent's leg (`uuid_broadcast`), dialling the number
through a loopback leg into the same context: the agent talks to whoever answers while
the other party waits, and when the agent hangs up att_xfer bridges the other party to
the target.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from telephony.config.models import Site
from telephony.freeswitch import names
from telephony.freeswitch.esl import EslClient, EslConnectionError, EslError, EslTimeout
from telephony.port import LiveCall, PbxRefused, PbxUnavailable

# How many loopback pairs to follow from an agent to the other party.
_MAX_HOPS = 4
# What `uuid_getvar` answers for a variable that is not set.
_UNSET = "_undef_"
# Applications a caller runs while mod_callcenter has them bridged to an agent.
_QUEUE_APPS = frozenset({"callcenter", "uuid_bridge"})


@dataclass(frozen=True, slots=True)
class Channel:
    """One row of `show channels`, the fields a call is read from."""

    uuid: str
    name: str
    direction: str
    number: str
    callee: str
    application: str
    presence_id: str
    initial_context: str

    @classmethod
    def of(cls, row: Mapping[str, str]) -> Channel:
        return cls(
            uuid=row.get("uuid", ""),
            name=row.get("name", ""),
            direction=row.get("direction", ""),
            # As the channel arrived: FreeSWITCH rewrites cid_num after a bridge.
            number=row.get("initial_cid_num", "") or row.get("cid_num", ""),
            callee=row.get("initial_dest", "") or row.get("dest", ""),
            application=row.get("application", ""),
            presence_id=row.get("presence_id", ""),
            initial_context=row.get("initial_context", ""),
        )

    @property
    def loopback(self) -> bool:
        return self.name.startswith("loopback/")


@dataclass(frozen=True, slots=True)
class Leg:
    """An agent's call as FreeSWITCH has it: the agent's channel and the other party's."""

    call: LiveCall
    agent_uuid: str


def rows(text: str) -> list[dict[str, str]]:
    """The rows of a `show ... as json` answer (none when it says nothing)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise PbxRefused(f"unreadable answer from FreeSWITCH: {text[:80]!r}") from None
    found = data.get("rows", []) if isinstance(data, dict) else []
    return [
        {str(k): "" if v is None else str(v) for k, v in row.items()}
        for row in found if isinstance(row, dict)
    ]


class Reader:
    """Reads live calls over one Event Socket client."""

    def __init__(self, client: EslClient, site: Site) -> None:
        self.client = client
        self.site = site
        self._device_agent = {d.id: a.id for a in site.agents for d in a.devices}
        # A leg's presence user: the agent's extension, or the device on an older leg.
        self._presence_agent = {**self._device_agent, **{a.extension: a.id for a in site.agents}}
        self._extension = {a.id: a.extension for a in site.agents}

    async def api(self, command: str) -> str:
        try:
            body = await self.client.api(command, check=False)
        except (EslConnectionError, EslTimeout) as exc:
            raise PbxUnavailable(f"{command.split(' ', 1)[0]}: {exc}") from exc
        except EslError as exc:
            raise PbxRefused(str(exc)) from exc
        if body.startswith(("-ERR", "-USAGE")):
            raise PbxRefused(f"{command.split(' ', 1)[0]} refused: {body.strip()}")
        return body

    async def _var(self, uuid: str, name: str) -> str:
        try:
            value = (await self.api(f"uuid_getvar {uuid} {name}")).strip()
        except PbxRefused:
            return ""  # the channel hung up meanwhile
        return "" if value == _UNSET else value

    async def legs(self) -> list[Leg]:
        channel_text, call_text = await asyncio.gather(
            self.api("show channels as json"), self.api("show calls as json")
        )
        channels = {c.uuid: c for c in map(Channel.of, rows(channel_text)) if c.uuid}
        partner: dict[str, str] = {}
        for row in rows(call_text):
            a, b = row.get("uuid", ""), row.get("b_uuid", "")
            if a and b:
                partner[a], partner[b] = b, a
        agents = await self._agents(channels.values())
        loops = await self._loopback_pairs(channels.values())
        found: list[tuple[str, str, Channel]] = []
        for uuid, agent in agents.items():
            peer = _peer(uuid, partner, loops, channels)
            if peer is not None:
                found.append((agent, uuid, peer))
        queues = await asyncio.gather(*(
            self._var(peer.uuid, "cc_queue") if peer.application in _QUEUE_APPS
            else _nothing()
            for _, _, peer in found
        ))
        out = [
            Leg(LiveCall(peer.uuid, agent, self._number(peer, agents), queue), uuid)
            for (agent, uuid, peer), queue in zip(found, queues, strict=True)
        ]
        return sorted(out, key=lambda leg: (leg.call.agent, leg.agent_uuid))

    async def _agents(self, channels: Iterable[Channel]) -> dict[str, str]:
        """The agent of every channel that is one of their devices, by uuid."""
        out: dict[str, str] = {}
        asked: list[Channel] = []
        domain = names.domain(self.site)
        for c in channels:
            if c.direction == "outbound" and not c.loopback:
                user, _, host = c.presence_id.partition("@")
                if host == domain and user in self._presence_agent:
                    out[c.uuid] = self._presence_agent[user]
            elif c.direction == "inbound" and c.initial_context == names.FROM_INTERNAL:
                asked.append(c)
        users = await asyncio.gather(*(self._var(c.uuid, "user_name") for c in asked))
        for c, user in zip(asked, users, strict=True):
            if user in self._device_agent:
                out[c.uuid] = self._device_agent[user]
        return out

    async def _loopback_pairs(self, channels: Iterable[Channel]) -> dict[str, str]:
        loops = [c for c in channels if c.loopback]
        others = await asyncio.gather(
            *(self._var(c.uuid, "other_loopback_leg_uuid") for c in loops)
        )
        return {c.uuid: other for c, other in zip(loops, others, strict=True) if other}

    def _number(self, peer: Channel, agents: Mapping[str, str]) -> str:
        agent = agents.get(peer.uuid)
        if agent is not None:
            return self._extension[agent]  # a colleague: their extension, as on Asterisk
        return peer.number if peer.direction == "inbound" else peer.callee


async def _nothing() -> str:
    return ""


def _peer(
    start: str,
    partner: Mapping[str, str],
    loops: Mapping[str, str],
    channels: Mapping[str, Channel],
) -> Channel | None:
    here = start
    for _ in range(_MAX_HOPS):
        other_uuid = partner.get(here)
        other = channels.get(other_uuid) if other_uuid else None
        if other is None:
            return None  # not bridged to anyone (ringing, held, alone)
        if not other.loopback:
            return other
        far = loops.get(other.uuid)
        if far is None:
            return None
        here = far
    return None


async def calls(client: EslClient, site: Site) -> tuple[LiveCall, ...]:
    """The calls the site's agents are on now."""
    return tuple(leg.call for leg in await Reader(client, site).legs())


async def transfer(
    client: EslClient, site: Site, call: LiveCall, number: str, *, attended: bool
) -> None:
    """Move the other party of `call` to `number` (PbxRefused when the call is gone)."""
    reader = Reader(client, site)
    current = [
        leg for leg in await reader.legs()
        if leg.call.ref == call.ref and leg.call.agent == call.agent
    ]
    if not current:
        raise PbxRefused(f"{call.agent} is no longer on a call with {call.ref}")
    leg = current[0]
    if attended:
        target = f"loopback/{number}/{names.FROM_INTERNAL}"
        command = f"uuid_broadcast {leg.agent_uuid} att_xfer::{target} aleg"
    else:
        command = f"uuid_transfer {leg.call.ref} {number} XML {names.FROM_INTERNAL}"
    try:
        result = await reader.api(command)
    except PbxRefused as exc:
        if "no such channel" in str(exc).lower():
            # `show calls` lags a hangup: the call was listed but is gone now.
            raise PbxRefused(f"{call.agent} is no longer on a call with {call.ref}") from None
        raise
    if not result.startswith("+OK"):
        raise PbxRefused(f"{command.split(' ', 1)[0]} refused: {result.strip()}")
