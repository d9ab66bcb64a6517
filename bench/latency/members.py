"""Hunt-group members for the benchmark, added the way the engine adds them."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from telephony.asterisk.ami import AmiClient
from telephony.asterisk.names import member_interface
from telephony.asterisk.port import AsteriskPort
from telephony.config import Site
from telephony.engine.engine import Engine
from telephony.port import Join
from telephony.routing.clock import SystemClock


@dataclass(frozen=True, slots=True)
class Added:
    """A queue member this benchmark added (to remove again at the end)."""

    queue: str
    interface: str


def member_interfaces(queue_show: str) -> set[str]:
    """Interfaces listed by `queue show <q>`: `name (Local/x@ctx/n from hint:...)`."""
    return set(re.findall(r"\((\S+/\S+?)(?: from |\))", queue_show))


async def sync_with_engine(site: Site, group_id: str) -> tuple[str, list[Added]]:
    """One `Engine.sync()` against the PBX: the roster decides who is a member.

    Returns how it was done and the members added.
    """
    client = AmiClient(
        "127.0.0.1",
        site.pbx.control_port,
        site.pbx.control_username,
        site.pbx.control_secret.get_secret_value(),
        reconnect=False,
    )
    await client.connect()
    try:
        commands = await Engine(site, AsteriskPort(site, client), SystemClock()).sync()
    finally:
        await client.close()
    added = [
        Added(c.queue, member_interface(site.agent(c.agent)))
        for c in commands if isinstance(c, Join)
    ]
    return "engine", added


def roster_agents(site: Site, group_id: str) -> list[str]:
    """Agents of a group's roster (the test site's `rota` has them on duty all week)."""
    return list(site.hunt_group(group_id).roster)


def remove_added(added: list[Added], cli: Callable[[str], str]) -> None:
    """Take out again the members this benchmark added."""
    for member in added:
        cli(f"queue remove member {member.interface} from {member.queue}")
