"""Hunt-group members for the benchmark, added the way the engine adds them."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass

from telephony.config import Site
from telephony.routing.names import member_interface


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

    Returns how it was done and the members added. Falls back to the engine's exact
    QueueAdd (for `group_id`'s roster agents) over a bare AMI connection while
    `telephony.ami` has no client yet.
    """
    try:
        from telephony.ami import AmiClient
        from telephony.engine.engine import Engine
        from telephony.routing.clock import SystemClock
        from telephony.routing.membership import AddMember
    except ImportError:
        return "raw-ami", await _add_with_raw_ami(site, group_id)

    client = AmiClient(
        "127.0.0.1",
        site.pbx.ami_port,
        site.pbx.ami_username,
        site.pbx.ami_secret.get_secret_value(),
        reconnect=False,
    )
    await client.connect()
    try:
        commands = await Engine(site, client, SystemClock()).sync()
    finally:
        await client.close()
    added = [Added(c.queue, c.interface) for c in commands if isinstance(c, AddMember)]
    return "engine", added


async def _add_with_raw_ami(site: Site, group_id: str) -> list[Added]:
    """QueueAdd with the headers of Engine._apply, for each roster agent of the group."""
    reader, writer = await asyncio.open_connection("127.0.0.1", site.pbx.ami_port)
    try:
        await reader.readline()  # banner
        await _action(
            reader,
            writer,
            {
                "Action": "Login",
                "Username": site.pbx.ami_username,
                "Secret": site.pbx.ami_secret.get_secret_value(),
                "Events": "off",
            },
        )
        added: list[Added] = []
        for agent in roster_agents(site, group_id):
            interface = member_interface(site.agent(agent))
            response = await _action(
                reader,
                writer,
                {
                    "Action": "QueueAdd",
                    "Queue": group_id,
                    "Interface": interface,
                    "MemberName": agent,
                    "StateInterface": f"hint:{agent}@tel-state",
                    "Penalty": "0",
                    "Paused": "false",
                },
            )
            # "Unable to add interface: Already there" is not an addition of ours.
            if response.get("Response") == "Success":
                added.append(Added(group_id, interface))
        await _action(reader, writer, {"Action": "Logoff"})
        return added
    finally:
        writer.close()
        await writer.wait_closed()


async def _action(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, headers: dict[str, str]
) -> dict[str, str]:
    writer.write("".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode() + b"\r\n")
    await writer.drain()
    while True:
        block = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10.0)
        fields = dict(line.split(": ", 1) for line in block.decode().split("\r\n") if ": " in line)
        if "Response" in fields:
            if headers["Action"] == "Login" and fields["Response"] != "Success":
                raise RuntimeError(f"AMI login refused: {fields.get('Message', '')}")
            return fields


def roster_agents(site: Site, group_id: str) -> list[str]:
    """Agents of a group's roster (the test site's `rota` has them on duty all week)."""
    for group in site.hunt_groups:
        if group.id == group_id:
            return list(group.roster)
    raise KeyError(group_id)


def remove_added(added: list[Added], cli: Callable[[str], str]) -> None:
    """Take out again the members this benchmark added."""
    for member in added:
        cli(f"queue remove member {member.interface} from {member.queue}")
