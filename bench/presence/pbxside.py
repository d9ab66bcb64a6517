"""What the bench reads from and sends to each PBX, beside the engine.

The native change is the one the port makes, sent by the bench on its own connection
with no engine in between:

- Asterisk: the extension's hint names a custom device state (`Custom:<name>`) beside
  the agent's devices; the port turns focus and away into that state, and app
  res_pjsip_exten_state notifies every watcher of the hint. Natively: AMI `Setvar`
  `DEVICE_STATE(Custom:<name>)` = BUSY, then NOT_INUSE.
- FreeSWITCH: the port sends a PRESENCE_IN event for the agent's extension, which
  mod_sofia turns into a NOTIFY per subscription. Natively: `sendevent PRESENCE_IN`
  with the headers the port sends (`telephony.freeswitch` builds them), busy, then idle.

Each side also counts and clears the PBX's subscriptions: Asterisk persists every
SUBSCRIBE dialog in AstDB (family `subscription_persistence`) and brings it back at
start; FreeSWITCH keeps them in the profile's sqlite database (`sip_subscriptions`).
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from telephony.asterisk import names as ast_names
from telephony.asterisk.ami import AmiClient
from telephony.config import Site
from telephony.freeswitch import names as fs_names
from telephony.freeswitch.esl import EslClient
from telephony.freeswitch.runner.layout import Layout as FsLayout
from telephony.port import Presence, Publish

from .sip import BUSY, IDLE

PERSISTENCE = "subscription_persistence"


class Side(Protocol):
    kind: str
    native_words: str

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def version(self) -> str: ...
    async def registered(self, devices: frozenset[str]) -> int: ...
    async def prepare(self, agent: str, extension: str) -> str: ...
    async def native(self, lamp: str) -> None: ...
    async def subscriptions(self) -> int: ...
    async def clear_subscriptions(self) -> int: ...


class AsteriskSide:
    kind = "asterisk"

    def __init__(self, site: Site, *, as_port: bool = False) -> None:
        pbx = site.pbx
        self.as_port = as_port
        # Actions only (Events: off): an event-reading session of ours would make
        # Asterisk wake one more reader for every event, in both kinds of change.
        self.control = AmiClient("127.0.0.1", pbx.control_port, pbx.control_username,
                                 pbx.control_secret, wanted_events=frozenset(),
                                 action_timeout=30.0)
        self.hint = ""
        self.custom: str | None = None
        self.agent = ""
        self.values = {BUSY: "BUSY", IDLE: "NOT_INUSE"}
        self.native_words = "AMI Setvar DEVICE_STATE(Custom:...)"

    async def open(self) -> None:
        await self.control.connect()

    async def close(self) -> None:
        await self.control.close()

    async def version(self) -> str:
        text = await self.control.command("core show version")
        found = re.match(r"Asterisk (\S+)", text)
        return found.group(1) if found else text.strip()[:60]

    async def registered(self, devices: frozenset[str]) -> int:
        text = await self.control.command("pjsip show contacts", timeout=30.0)
        found = set(re.findall(r"^\s*Contact:\s+([^/\s<]+)/", text, re.MULTILINE))
        return len(found & devices)

    async def prepare(self, agent: str, extension: str) -> str:
        """Read the extension's hint; the custom device state in it is what the native
        change sets, to the values the port sets it to. Returns the hint."""
        response = await self.control.send(
            "ExtensionState", Exten=extension, Context=ast_names.HINTS
        )
        response.check("ExtensionState")
        self.agent = agent
        self.hint = response.get("Hint") or ""
        found = re.search(r"Custom:([^&,\s]+)", self.hint)
        self.custom = found.group(1) if found else None
        if self.custom is not None:
            self.values.update(port_device_states(agent, f"Custom:{self.custom}"))
        self.native_words = (f"AMI Setvar DEVICE_STATE(Custom:{self.custom}) = "
                             f"{self.values[BUSY]} / {self.values[IDLE]}")
        if self.as_port:
            self.native_words = ("every AMI Setvar of the port's publication at once "
                                 "(telephony.asterisk.presence.setvars)")
        return self.hint

    async def native(self, lamp: str) -> None:
        if self.as_port:
            await self._as_port(lamp)
            return
        if self.custom is None:
            raise RuntimeError(f"the hint names no custom device state: {self.hint!r}")
        value = self.values[lamp]
        response = await self.control.send(
            "Setvar", Variable=f"DEVICE_STATE(Custom:{self.custom})", Value=value
        )
        response.check("Setvar")

    async def _as_port(self, lamp: str) -> None:
        """Every Setvar the port sends for the publication, at once as the port does."""
        from telephony.asterisk.presence import setvars

        presence = Presence.FOCUS if lamp == BUSY else Presence.AVAILABLE
        note = "Focus" if lamp == BUSY else "Available"
        responses = await asyncio.gather(*(
            self.control.send("Setvar", headers)
            for headers in setvars(Publish(self.agent, presence, note, "bench"))
        ))
        for response in responses:
            response.check("Setvar")

    async def subscriptions(self) -> int:
        return len(await self.control.db_get_tree(PERSISTENCE))

    async def clear_subscriptions(self) -> int:
        """Delete the persisted ones (those Asterisk holds now stay until it restarts)."""
        found = await self.subscriptions()
        if found:
            await self.control.send("DBDelTree", Family=PERSISTENCE)
        return found


PresenceEvents = Callable[[str], list[list[tuple[str, str]]]]
"""lamp -> the PRESENCE_IN events (their headers) for the watched extension, in order."""


class FreeswitchSide:
    kind = "freeswitch"

    def __init__(self, site: Site, state_dir: Path, events: PresenceEvents) -> None:
        pbx = site.pbx
        self.control = EslClient("127.0.0.1", pbx.control_port, pbx.control_secret,
                                 command_timeout=30.0)
        self.database = FsLayout(state_dir).db_dir / f"sofia_reg_{fs_names.PROFILE}.db"
        self.events = events
        self.native_words = "ESL sendevent PRESENCE_IN with the port's headers, busy / idle"

    async def open(self) -> None:
        await self.control.connect()

    async def close(self) -> None:
        await self.control.close()

    async def version(self) -> str:
        text = await self.control.api("version")
        found = re.search(r"FreeSWITCH Version (\S+)", text)
        return found.group(1) if found else text.strip()[:60]

    async def registered(self, devices: frozenset[str]) -> int:
        text = await self.control.api(f"sofia status profile {fs_names.PROFILE} reg", check=False)
        found = set(re.findall(r"^User:\s+([^@\s]+)@", text, re.MULTILINE))
        return len(found & devices)

    async def prepare(self, agent: str, extension: str) -> str:
        return " | ".join(" ".join(f"{k}: {v}" for k, v in e) for e in self.events(BUSY))

    async def native(self, lamp: str) -> None:
        for event in self.events(lamp):  # one after the other, as the port sends them
            await self.control.command("sendevent PRESENCE_IN", event)

    async def subscriptions(self) -> int:
        return count_fs_subscriptions(self.database)

    async def clear_subscriptions(self) -> int:
        # Only with FreeSWITCH stopped (clear_fs_subscriptions): mod_sofia owns the file.
        return await self.subscriptions()


def count_fs_subscriptions(database: Path) -> int:
    if not database.exists():
        return 0
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        return int(db.execute("select count(*) from sip_subscriptions").fetchone()[0])


def clear_fs_subscriptions(database: Path) -> int:
    """Delete mod_sofia's stored subscriptions, FreeSWITCH stopped; how many there were."""
    if not database.exists():
        return 0
    with sqlite3.connect(database) as db:
        found = int(db.execute("select count(*) from sip_subscriptions").fetchone()[0])
        db.execute("delete from sip_subscriptions")
    return found


def port_device_states(agent: str, device: str) -> dict[str, str]:
    """The values the Asterisk port gives `device` when it publishes the agent in focus
    (busy) and available (idle); none when this checkout's port does not publish."""
    try:
        from telephony.asterisk.presence import setvars
    except ImportError:
        return {}
    out = {}
    for lamp, presence in ((BUSY, Presence.FOCUS), (IDLE, Presence.AVAILABLE)):
        for action in setvars(Publish(agent, presence, presence.value, "bench")):
            if action.get("Variable") == f"DEVICE_STATE({device})":
                out[lamp] = action["Value"]
    return out


def port_presence(
    site: Site, agent: str, extension: str, *, as_port: bool = False
) -> tuple[PresenceEvents, str]:
    """The PRESENCE_IN headers the FreeSWITCH port sends for the agent's lamp (focus:
    busy, available: idle), and where they come from."""
    domain = fs_names.domain(site)
    try:
        from telephony.freeswitch.presence import lamp_headers
    except ImportError:
        return provisional_presence(extension, domain), "provisional, the bench's own"

    def lamp(wanted: str) -> list[list[tuple[str, str]]]:
        busy = wanted == BUSY
        why = (Presence.FOCUS if busy else Presence.AVAILABLE).value
        return [list(lamp_headers(busy, agent, extension, domain, why=why))]

    if not as_port:
        return lamp, "the port's lamp_headers()"
    from telephony.freeswitch.presence import pidf_headers

    def both(wanted: str) -> list[list[tuple[str, str]]]:
        busy = wanted == BUSY
        presence = Presence.FOCUS if busy else Presence.AVAILABLE
        note = "Focus" if busy else "Available"
        return [list(pidf_headers(presence, note, agent, extension, domain)), *lamp(wanted)]

    return both, "the port's pidf_headers() then lamp_headers(), one after the other"


def provisional_presence(extension: str, domain: str) -> PresenceEvents:
    """PRESENCE_IN headers that light a BLF lamp on mod_sofia's dialog subscriptions, for
    when the port builds none yet (the native side alone can then be measured)."""
    call = str(uuid.uuid4())

    def events(lamp: str) -> list[list[tuple[str, str]]]:
        busy = lamp == BUSY
        return [[
            ("proto", "sip"), ("from", f"{extension}@{domain}"),
            ("login", f"{extension}@{domain}"), ("status", "Busy" if busy else "Available"),
            ("rpid", "busy" if busy else "unknown"), ("event_type", "presence"),
            ("alt_event_type", "dialog"), ("event_count", "1"), ("unique-id", call),
            ("channel-state", "CS_EXECUTE" if busy else "CS_HANGUP"),
            ("answer-state", "confirmed" if busy else "terminated"),
            ("presence-call-direction", "outbound"),
        ]]

    return events
