"""Live calls and transfers on Asterisk, through AMI.

Calls are read from `CoreShowChannels`: an agent's call is a channel of one of their
devices (`PJSIP/<device>-...`) in a bridge, and the other party is whoever is in that
bridge with it, followed through Local channel pairs (`Local/...;1` and `;2` are two
ends of one call: an agent with several devices is a queue member through one). The
skill queue or hunt group that put the call through is the queue the other party's
channel is waiting in (`Queue` application).

A blind transfer redirects the other party's channel into `tel-from-internal`: the
context of our own phones, where the site's numbers and the urgent prefix work (a
transfer is made by our own agent, even for a caller from a trunk). An attended one is
`Atxfer` on the agent's channel: the agent talks to the target while the other party
is held, and hanging up completes the transfer. Atxfer works by feeding the bridge the
attended-transfer feature code, so the rendered config enables that feature for the
agent's side of every bridge (`names.TRANSFER_FEATURES`) and features.conf gives it a
code no phone sends (`names.ATXFER_CODE`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from telephony.asterisk import names
from telephony.asterisk.ami import AmiClient, AmiConnectionError, AmiError, AmiTimeout
from telephony.asterisk.ami.events import Event, Response
from telephony.config.models import Site
from telephony.port import LiveCall, PbxRefused, PbxUnavailable

# How many Local channel pairs to follow from an agent to the other party (a queue
# member Local channel is one; more would be a loop or someone else's dialplan).
_MAX_HOPS = 4


@dataclass(frozen=True, slots=True)
class Channel:
    """One row of CoreShowChannels, the fields a call is read from."""

    name: str
    bridge: str
    number: str
    application: str
    data: str

    @classmethod
    def of(cls, event: Event) -> Channel:
        return cls(
            name=event.get("Channel") or "",
            bridge=event.get("BridgeId") or "",
            number=event.get("CallerIDNum") or "",
            application=event.get("Application") or "",
            data=event.get("ApplicationData") or "",
        )


@dataclass(frozen=True, slots=True)
class Leg:
    """An agent's call as Asterisk has it: the agent's channel and the other party's."""

    call: LiveCall
    agent_channel: str


def device_of(channel: str) -> str | None:
    """The device (PJSIP endpoint) a `PJSIP/<device>-<n>` channel belongs to."""
    tech, _, rest = channel.partition("/")
    if tech != "PJSIP" or "-" not in rest:
        return None
    return rest.rsplit("-", 1)[0]


def _other_end(channel: str) -> str | None:
    """The other half of a Local channel pair (`;1` <-> `;2`), else None."""
    if not channel.startswith("Local/"):
        return None
    if channel.endswith(";1"):
        return channel[:-1] + "2"
    if channel.endswith(";2"):
        return channel[:-1] + "1"
    return None


def legs(site: Site, channels: Iterable[Channel]) -> list[Leg]:
    """Every call an agent of the site is on: one per agent channel in a two-party
    bridge, with the other party found through any Local channel pairs."""
    device_agent = {d.id: a.id for a in site.agents for d in a.devices}
    by_name = {c.name: c for c in channels}
    bridges: dict[str, list[Channel]] = {}
    for c in by_name.values():
        if c.bridge:
            bridges.setdefault(c.bridge, []).append(c)
    out: list[Leg] = []
    for c in by_name.values():
        device = device_of(c.name)
        agent = device_agent.get(device) if device is not None else None
        if agent is None or not c.bridge:
            continue  # not an agent's device, or not talking to anyone (ringing)
        peer = _peer(c, bridges, by_name)
        if peer is None:
            continue
        queue = peer.data.split(",", 1)[0] if peer.application == "Queue" else ""
        out.append(Leg(LiveCall(peer.name, agent, peer.number, queue), c.name))
    return sorted(out, key=lambda leg: (leg.call.agent, leg.agent_channel))


def _peer(
    start: Channel, bridges: Mapping[str, list[Channel]], by_name: Mapping[str, Channel]
) -> Channel | None:
    here = start
    for _ in range(_MAX_HOPS):
        others = [c for c in bridges.get(here.bridge, []) if c.name != here.name]
        if len(others) != 1:
            return None  # alone (held, being transferred) or a conference: no one peer
        other = others[0]
        far_name = _other_end(other.name)
        if far_name is None:
            return other
        far = by_name.get(far_name)
        if far is None or not far.bridge:
            return None  # the Local channel's far end is still dialling
        here = far
    return None


async def read_legs(client: AmiClient, site: Site) -> list[Leg]:
    try:
        listing = await client.send_list("CoreShowChannels")
    except (AmiConnectionError, AmiTimeout) as exc:
        raise PbxUnavailable(f"CoreShowChannels: {exc}") from exc
    except AmiError as exc:
        raise PbxRefused(f"CoreShowChannels: {exc}") from exc
    if not listing.response.success:
        raise PbxUnavailable(f"CoreShowChannels refused: {listing.response.message}")
    return legs(site, (Channel.of(e) for e in listing.events if e.name == "CoreShowChannel"))


async def calls(client: AmiClient, site: Site) -> tuple[LiveCall, ...]:
    """The calls the site's agents are on now."""
    return tuple(leg.call for leg in await read_legs(client, site))


async def transfer(
    client: AmiClient, site: Site, call: LiveCall, number: str, *, attended: bool
) -> None:
    """Move the other party of `call` to `number` (PbxRefused when the call is gone)."""
    current = [
        leg for leg in await read_legs(client, site)
        if leg.call.ref == call.ref and leg.call.agent == call.agent
    ]
    if not current:
        raise PbxRefused(f"{call.agent} is no longer on a call with {call.ref}")
    leg = current[0]
    if attended:
        action, headers = "Atxfer", {
            "Channel": leg.agent_channel, "Exten": number, "Context": names.FROM_INTERNAL,
        }
    else:
        action, headers = "Redirect", {
            "Channel": leg.call.ref, "Exten": number, "Context": names.FROM_INTERNAL,
            "Priority": "1",
        }
    response = await _send(client, action, headers)
    if not response.success and "does not exist" in response.message:
        raise PbxRefused(f"{call.agent} is no longer on a call with {call.ref}")
    if not response.success:
        raise PbxRefused(f"{action} refused: {response.message}")


async def _send(client: AmiClient, action: str, headers: Mapping[str, str]) -> Response:
    try:
        return await client.send(action, headers)
    except (AmiConnectionError, AmiTimeout) as exc:
        raise PbxUnavailable(f"{action}: {exc}") from exc
    except AmiError as exc:
        raise PbxRefused(f"{action}: {exc}") from exc
