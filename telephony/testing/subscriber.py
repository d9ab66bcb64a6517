"""Presence watchers for PBX tests: SIPp SUBSCRIBE dialogs and the NOTIFYs they get.

A watcher authenticates as one of the site's devices (the PBX's phones subscribe as
themselves) and subscribes to an extension (`Event: presence`, PIDF; or `Event:
dialog`, dialog-info, which desk phones use for BLF lamps), or to an RFC 4662 resource
list (`Supported: eventlist`: one subscription for a whole team, NOTIFYs as
multipart/related with an RLMI document and one body per member). Nothing here knows
which PBX answers.

Many subscriptions can share one SIPp process (`SubscriberKit.subscribe_many`): one SIPp
"call" per SUBSCRIBE dialog, the resource of each read from SIPp's injection file, so a
benchmark runs hundreds of subscribers without hundreds of processes.

The bodies are parsed here without I/O (`parse_pidf`, `parse_dialog_info`,
`parse_resource_list`, `Notify`), so tests ask for what a phone would show:

    sub = await subscribers.subscribe("bjorn-soft", "1001", event="dialog")
    note = await sub.wait_notify(lambda n: n.dialog is not None and n.dialog.busy)
"""

from __future__ import annotations

import asyncio
import email.message
import email.parser
import email.policy
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Self

from telephony.config import Device, Site
from telephony.testing.sipp import (
    LOCALHOST,
    SippError,
    SippProcess,
    SippRun,
    SipTestError,
    free_udp_port,
    render_scenario,
    send_control,
)
from telephony.testing.trace import Direction, SipMessage, uri_user

log = logging.getLogger(__name__)

SUBSCRIBE_EXPIRES = 600
USER_AGENT = "telephony-testkit"
# New SUBSCRIBE dialogs per second when many share a process: quick, yet a PBX
# answering each with a digest challenge keeps up.
SUBSCRIBE_RATE = 200


class EventPackage(StrEnum):
    """What a subscription asks for (the Event header)."""

    PRESENCE = "presence"
    """PIDF (RFC 3863): open/closed and a note; softphones' buddy lists."""
    DIALOG = "dialog"
    """dialog-info (RFC 4235): idle/ringing/in a call; desk phones' BLF lamps."""


BODY_TYPES = {
    EventPackage.PRESENCE: "application/pidf+xml",
    EventPackage.DIALOG: "application/dialog-info+xml",
}
RLMI = "application/rlmi+xml"
MULTIPART = "multipart/related"


class BodyError(ValueError):
    """A NOTIFY body this kit cannot read (not XML, or not the document it claims)."""


# ---- bodies ---------------------------------------------------------------------------

def _local(tag: str) -> str:
    """`{urn:...}basic` -> `basic`: documents differ in prefixes and namespaces."""
    return tag.rsplit("}", 1)[-1]


def _xml(text: str, root: str) -> ET.Element:
    try:
        element = ET.fromstring(text.strip())
    except ET.ParseError as exc:
        raise BodyError(f"not XML ({exc}): {text[:200]!r}") from exc
    if _local(element.tag) != root:
        raise BodyError(f"expected a <{root}> document, got <{_local(element.tag)}>")
    return element


def _text(element: ET.Element | None) -> str:
    return "" if element is None else (element.text or "").strip()


@dataclass(frozen=True, slots=True)
class Dialog:
    """One dialog of a dialog-info document."""

    id: str
    state: str
    """trying | proceeding | early | confirmed | terminated (RFC 4235)."""
    direction: str = ""
    """initiator (the watched party called) | recipient (it is being called) | ""."""
    remote: str = ""
    """The other party's identity (a SIP URI), when the PBX tells."""


@dataclass(frozen=True, slots=True)
class DialogInfo:
    """A dialog-info document: what a BLF lamp shows."""

    entity: str
    version: int
    full: bool
    dialogs: tuple[Dialog, ...]

    @property
    def state(self) -> str:
        """The lamp in one word: the busiest dialog's state (confirmed before early
        before the rest), or "terminated" when no dialog is live (lamp off)."""
        states = {d.state for d in self.dialogs}
        for state in ("confirmed", "early", "proceeding", "trying"):
            if state in states:
                return state
        return "terminated"

    @property
    def busy(self) -> bool:
        """The lamp is lit steadily (in a call, or marked busy)."""
        return self.state == "confirmed"

    @property
    def ringing(self) -> bool:
        """The lamp flashes: the watched party is being called."""
        return any(d.state == "early" and d.direction != "initiator" for d in self.dialogs)

    @property
    def idle(self) -> bool:
        return self.state == "terminated"


def parse_dialog_info(text: str) -> DialogInfo:
    root = _xml(text, "dialog-info")
    dialogs: list[Dialog] = []
    for element in root:
        if _local(element.tag) != "dialog":
            continue
        state = next((c for c in element if _local(c.tag) == "state"), None)
        remote = ""
        for child in element:
            if _local(child.tag) == "remote":
                identity = next((c for c in child if _local(c.tag) == "identity"), None)
                remote = _text(identity)
        dialogs.append(Dialog(
            id=element.get("id", ""),
            state=_text(state),
            direction=element.get("direction", ""),
            remote=remote,
        ))
    version = root.get("version", "0")
    return DialogInfo(
        entity=root.get("entity", ""),
        version=int(version) if version.isdigit() else 0,
        full=root.get("state", "full") == "full",
        dialogs=tuple(dialogs),
    )


@dataclass(frozen=True, slots=True)
class Pidf:
    """A PIDF document (with the RPID and vendor parts phones read)."""

    entity: str
    basic: str | None
    """open | closed: the first tuple's basic status (None without one)."""
    notes: tuple[str, ...]
    """Every <note> anywhere in the document, in order (presence, tuple, person)."""
    activities: frozenset[str]
    """RPID activities (RFC 4480) by local name: on-the-phone, away, busy, ..."""
    extras: dict[str, str] = field(default_factory=dict)
    """Vendor elements phones show, by local name with their attributes flattened:
    Digium/Sangoma phones' `digium_presence` (its text) and `digium_presence.type`,
    `digium_presence.subtype`."""

    @property
    def note(self) -> str:
        """The first note (what most softphones show), "" without one."""
        return self.notes[0] if self.notes else ""

    @property
    def open(self) -> bool:
        return self.basic == "open"


def parse_pidf(text: str) -> Pidf:
    root = _xml(text, "presence")
    basic: str | None = None
    notes: list[str] = []
    activities: set[str] = set()
    extras: dict[str, str] = {}
    for element in root.iter():
        name = _local(element.tag)
        if name == "basic" and basic is None:
            basic = _text(element)
        elif name == "note" and _text(element):
            notes.append(_text(element))
        elif name == "activities":
            activities.update(_local(c.tag) for c in element if _local(c.tag) != "note")
        elif name == "digium_presence":
            extras[name] = _text(element)
            for key, value in element.attrib.items():
                extras[f"{name}.{_local(key)}"] = value
    return Pidf(
        entity=root.get("entity", ""),
        basic=basic,
        notes=tuple(notes),
        activities=frozenset(activities),
        extras=extras,
    )


@dataclass(frozen=True, slots=True)
class Resource:
    """One member of a resource list NOTIFY: its RLMI entry and its body, if sent."""

    uri: str
    name: str
    state: str
    """The RLMI instance state: active | pending | terminated ("" without an instance)."""
    content_type: str = ""
    body: str = ""

    @property
    def user(self) -> str:
        """The user part of the resource's URI: the extension."""
        return uri_user(f"<{self.uri}>") or self.uri

    @property
    def dialog(self) -> DialogInfo | None:
        return _dialog_if(self.content_type, self.body)

    @property
    def presence(self) -> Pidf | None:
        return _pidf_if(self.content_type, self.body)


@dataclass(frozen=True, slots=True)
class ResourceList:
    """An RLMI document (RFC 4662) with the members' bodies."""

    uri: str
    version: int
    full: bool
    resources: dict[str, Resource]
    """By the user part of each resource's URI (the extension)."""

    def __getitem__(self, user: str) -> Resource:
        return self.resources[user]

    def get(self, user: str) -> Resource | None:
        return self.resources.get(user)


def parse_resource_list(content_type: str, text: str) -> ResourceList:
    """A multipart/related NOTIFY body: the RLMI part (named by the `start` parameter,
    else the first) and each member's part, matched by Content-ID."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n"
    message = email.parser.Parser(policy=email.policy.compat32).parsestr(head + text)
    if not message.is_multipart():
        raise BodyError(f"not a multipart body: {content_type!r}")
    parts: dict[str, tuple[str, str]] = {}
    rlmi: str | None = None
    start = (message.get_param("start") or "")
    start = start.strip("<>") if isinstance(start, str) else ""
    for part in message.get_payload():
        assert isinstance(part, email.message.Message)
        cid = (part.get("Content-ID") or "").strip().strip("<>")
        payload = part.get_payload()
        body = payload if isinstance(payload, str) else ""
        ctype = part.get_content_type()
        if ctype == RLMI and (rlmi is None and (not start or cid == start)):
            rlmi = body
        else:
            full_type = part.get("Content-Type") or ctype
            parts[cid] = (full_type if ctype == MULTIPART else ctype, body)
    if rlmi is None:
        raise BodyError("a resource list NOTIFY without an RLMI part")
    root = _xml(rlmi, "list")
    resources: dict[str, Resource] = {}
    for element in root:
        if _local(element.tag) != "resource":
            continue
        uri = element.get("uri", "")
        name = _text(next((c for c in element if _local(c.tag) == "name"), None))
        instance = next((c for c in element if _local(c.tag) == "instance"), None)
        state = "" if instance is None else instance.get("state", "")
        ctype, body = ("", "")
        if instance is not None and instance.get("cid"):
            ctype, body = parts.get(instance.get("cid", ""), ("", ""))
        resource = Resource(uri=uri, name=name, state=state, content_type=ctype, body=body)
        resources[resource.user] = resource
    version = root.get("version", "0")
    return ResourceList(
        uri=root.get("uri", ""),
        version=int(version) if version.isdigit() else 0,
        full=root.get("fullState", "true").lower() in ("true", "1"),
        resources=resources,
    )


def _is(content_type: str, body: str, package: EventPackage) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == BODY_TYPES[package] and bool(body.strip())


def _dialog_if(content_type: str, body: str) -> DialogInfo | None:
    return parse_dialog_info(body) if _is(content_type, body, EventPackage.DIALOG) else None


def _pidf_if(content_type: str, body: str) -> Pidf | None:
    return parse_pidf(body) if _is(content_type, body, EventPackage.PRESENCE) else None


@dataclass(frozen=True, slots=True)
class Notify:
    """One NOTIFY a subscriber received, parsed on demand."""

    call_id: str
    cseq: int
    event: str
    content_type: str
    subscription_state: str
    """The Subscription-State header: active;expires=600, terminated;reason=..."""
    body: str
    timestamp: str
    """When SIPp received it, as its trace writes it (local time, microseconds)."""

    @classmethod
    def from_message(cls, message: SipMessage) -> Notify:
        return cls(
            call_id=message.call_id,
            cseq=message.cseq[0],
            event=(message.header("Event") or "").split(";", 1)[0].strip(),
            content_type=message.header("Content-Type") or "",
            subscription_state=message.header("Subscription-State") or "",
            body=message.body,
            timestamp=message.timestamp,
        )

    @property
    def terminated(self) -> bool:
        return self.subscription_state.lower().startswith("terminated")

    @property
    def dialog(self) -> DialogInfo | None:
        """The dialog-info document, for a dialog NOTIFY of one extension."""
        return _dialog_if(self.content_type, self.body)

    @property
    def presence(self) -> Pidf | None:
        """The PIDF document, for a presence NOTIFY of one extension."""
        return _pidf_if(self.content_type, self.body)

    @property
    def resources(self) -> ResourceList | None:
        """The resource list, for a NOTIFY of a list subscription."""
        kind = self.content_type.split(";", 1)[0].strip().lower()
        if kind != MULTIPART:
            return None
        return parse_resource_list(self.content_type, self.body)


# ---- SIPp ---------------------------------------------------------------------------

def _call_number(call_id: str) -> int | None:
    # SIPp's Call-IDs are `<call number>-<pid>@<address>` (-cid_str default %u-%p@%s).
    head = call_id.split("-", 1)[0]
    return int(head) if head.isdigit() else None


def _branch(message: SipMessage) -> str:
    match = re.search(r";\s*branch=([^;,\s]+)", message.header("Via") or "")
    return match.group(1) if match else ""


class _Dialogs:
    """The SUBSCRIBE dialogs of one SIPp process: its trace, sorted by call."""

    def __init__(self, process: SippProcess) -> None:
        self.process = process
        self._seen = 0
        self._notifies: dict[str, list[Notify]] = {}
        self._keys: set[tuple[str, int, str]] = set()
        self._call_ids: dict[int, str] = {}
        self._answers: dict[str, list[SipMessage]] = {}
        self._answered: set[tuple[str, int]] = set()

    def update(self) -> None:
        messages = self.process.messages()
        for message in messages[self._seen:]:
            self._take(message)
        self._seen = len(messages)

    def _take(self, message: SipMessage) -> None:
        call_id = message.call_id
        if message.direction is Direction.SENT:
            if message.method == "SUBSCRIBE":
                number = _call_number(call_id)
                if number is not None:
                    self._call_ids.setdefault(number, call_id)
            elif message.status == 200 and message.cseq[1] == "NOTIFY":
                self._answered.add((call_id, message.cseq[0]))
            return
        if message.method == "NOTIFY":
            # A retransmission repeats the CSeq and the Via branch; a PBX that restored
            # the dialog after a restart may start its CSeq again, with a new branch.
            key = (call_id, message.cseq[0], _branch(message))
            if key not in self._keys:
                self._keys.add(key)
                self._notifies.setdefault(call_id, []).append(Notify.from_message(message))
        elif message.status is not None and message.cseq[1] == "SUBSCRIBE":
            self._answers.setdefault(call_id, []).append(message)

    def call_id(self, number: int) -> str | None:
        return self._call_ids.get(number)

    def notifies(self, call_id: str) -> list[Notify]:
        return self._notifies.get(call_id, [])

    def answers(self, call_id: str) -> list[SipMessage]:
        return self._answers.get(call_id, [])

    def answered(self, call_id: str, cseq: int) -> bool:
        return (call_id, cseq) in self._answered


class Subscriber:
    """One SUBSCRIBE dialog from a device to a resource (an extension or a list)."""

    def __init__(
        self,
        device_id: str,
        resource: str,
        event: EventPackage,
        rls: bool,
        dialogs: _Dialogs,
        number: int,
    ) -> None:
        self.device_id = device_id
        self.resource = resource
        self.event = event
        self.rls = rls
        self._dialogs = dialogs
        self._number = number
        self._ended = False

    def __repr__(self) -> str:
        kind = f"{self.event.value}{' list' if self.rls else ''}"
        return f"<Subscriber {self.device_id} -> {self.resource} ({kind}) #{self._number}>"

    @property
    def call_id(self) -> str | None:
        """The dialog's Call-ID, once SIPp has sent the SUBSCRIBE."""
        self._dialogs.update()
        return self._dialogs.call_id(self._number)

    @property
    def notifies(self) -> list[Notify]:
        """Every NOTIFY of this dialog so far, oldest first (retransmissions once)."""
        call_id = self.call_id
        return [] if call_id is None else list(self._dialogs.notifies(call_id))

    @property
    def latest(self) -> Notify | None:
        notifies = self.notifies
        return notifies[-1] if notifies else None

    def resource_states(self) -> dict[str, Resource]:
        """A list subscription's members as the phone would show them now: each
        member's latest entry over every NOTIFY so far (a partial NOTIFY carries only
        the members that changed)."""
        merged: dict[str, Resource] = {}
        for notify in self.notifies:
            listed = notify.resources
            if listed is None:
                continue
            if listed.full:
                merged = {}
            for user, resource in listed.resources.items():
                if resource.body or user not in merged:
                    merged[user] = resource
        return merged

    def mark(self) -> int:
        """How many NOTIFYs have come so far: take it before an action, and pass it as
        `after` to wait for what the action caused (a PBX answers within milliseconds,
        often before the action's own reply)."""
        return len(self.notifies)

    async def wait_notify(
        self,
        predicate: Callable[[Notify], bool] | None = None,
        timeout: float = 5.0,
        *,
        after: int = 0,
    ) -> Notify:
        """Wait for a NOTIFY satisfying `predicate` (any, without one) and return it.

        Looks at every NOTIFY of the dialog after the first `after` (see `mark()`).
        Raises SipTestError on timeout, naming what came.
        """

        def probe(_: list[SipMessage]) -> Notify | None:
            for notify in self.notifies[after:]:
                if predicate is None or predicate(notify):
                    return notify
            return None

        try:
            return await self._dialogs.process.wait_for(probe, timeout, f"{self!r}: no matching NOTIFY")
        except SipTestError as exc:
            seen = "\n".join(
                f"  #{n.cseq} {n.subscription_state} {n.content_type}\n{_indent(n.body)}"
                for n in self.notifies[-5:]
            ) or "  (none)"
            raise SipTestError(f"{exc}\nlast NOTIFYs:\n{seen}") from None

    async def wait_accepted(self, timeout: float = 5.0) -> None:
        """Wait until the PBX took the SUBSCRIBE (2xx, or a first NOTIFY); SipTestError
        naming the status when it refused."""

        def verdict(_: list[SipMessage]) -> SipMessage | Notify | None:
            call_id = self.call_id
            if call_id is None:
                return None
            for answer in self._dialogs.answers(call_id):
                status = answer.status or 0
                if status >= 200 and not (status in (401, 407) and answer.cseq[0] == 1):
                    return answer
            notifies = self._dialogs.notifies(call_id)
            return notifies[0] if notifies else None

        found = await self._dialogs.process.wait_for(
            verdict, timeout, f"{self!r}: SUBSCRIBE not answered"
        )
        if isinstance(found, SipMessage) and (found.status or 0) >= 300:
            raise SipTestError(
                f"{self!r} refused: SIP {found.status} {found.reason}\n"
                f"{self._dialogs.process.trace_summary()}"
            )

    async def unsubscribe(self, timeout: float = 3.0) -> None:
        """End the subscription (SUBSCRIBE, Expires: 0) and wait for the PBX's last
        NOTIFY (Subscription-State: terminated) to be answered, so the PBX keeps nothing
        of it (Asterisk persists subscriptions across restarts)."""
        call_id = self.call_id
        if self._ended or call_id is None or not self._dialogs.process.running:
            return
        self._ended = True
        if any(n.terminated for n in self.notifies):
            return  # the PBX ended it already
        run = self._dialogs.process.run
        send_control(run.local_port, call_id, "unsubscribe", host=run.local_host)

        def done(_: list[SipMessage]) -> bool | None:
            self._dialogs.update()
            for notify in self._dialogs.notifies(call_id):
                if notify.terminated and self._dialogs.answered(call_id, notify.cseq):
                    return True
            return None

        await self._dialogs.process.wait_for(done, timeout, f"{self!r}: unsubscribe not confirmed")


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.strip().splitlines()[:30])


class SubscriberKit:
    """Starts subscribers against one PBX and ends them all at the end (`close()`):
    each subscription is ended with Expires: 0 first, so the PBX keeps none."""

    def __init__(
        self,
        site: Site,
        workdir: Path,
        *,
        sip_host: str = LOCALHOST,
        sip_port: int | None = None,
    ) -> None:
        self.site = site
        self.sip_host = sip_host
        self.sip_port = sip_port if sip_port is not None else site.pbx.sip_port
        self._workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self._groups: list[tuple[_Dialogs, list[Subscriber]]] = []

    def __repr__(self) -> str:
        count = sum(len(subs) for _, subs in self._groups)
        return f"<SubscriberKit {self.sip_host}:{self.sip_port} subscribers={count}>"

    def device(self, device_id: str) -> Device:
        for agent in self.site.agents:
            for device in agent.devices:
                if device.id == device_id:
                    return device
        known = ", ".join(d.id for a in self.site.agents for d in a.devices)
        raise SippError(f"no device {device_id!r} in site {self.site.site!r} (known: {known})")

    async def subscribe(
        self,
        device_id: str,
        resource: str,
        *,
        event: EventPackage | str = EventPackage.PRESENCE,
        rls: bool = False,
        user_agent: str = USER_AGENT,
        expires: int = SUBSCRIBE_EXPIRES,
        timeout: float = 5.0,
    ) -> Subscriber:
        """SUBSCRIBE from `device_id` to `resource` (an extension, or with `rls=True`
        a resource list's name) and return once the PBX accepted it.

        `user_agent` matters to some PBXs: Asterisk adds its CustomPresence to PIDF only
        for Digium and Sangoma phones (a User-Agent containing "digium").
        """
        (subscriber,) = await self.subscribe_many(
            device_id, [resource], event=event, rls=rls, user_agent=user_agent,
            expires=expires, timeout=timeout,
        )
        return subscriber

    async def subscribe_many(
        self,
        device_id: str,
        resources: Sequence[str],
        *,
        event: EventPackage | str = EventPackage.PRESENCE,
        rls: bool = False,
        user_agent: str = USER_AGENT,
        expires: int = SUBSCRIBE_EXPIRES,
        rate: int = SUBSCRIBE_RATE,
        timeout: float = 30.0,
    ) -> list[Subscriber]:
        """One subscription per entry of `resources` (repeat an extension to watch it
        many times), all from one SIPp process, `rate` new dialogs a second; returns
        once the PBX accepted every one (bounded by `timeout` in all)."""
        if not resources:
            raise ValueError("subscribe_many needs at least one resource")
        for resource in resources:
            if not resource or any(c in resource for c in ";@<>\r\n \t"):
                raise SippError(f"{resource!r} is not an extension or list name")
        package = EventPackage(event)
        device = self.device(device_id)
        accept = BODY_TYPES[package]
        if rls:
            accept = f"{MULTIPART}, {RLMI}, {accept}"
        scenario = render_scenario("subscriber.xml", {
            "USER": device.id,
            "EVENT": package.value,
            "ACCEPT": accept,
            "SUPPORTED": "Supported: eventlist" if rls else "",
            "EXPIRES": str(expires),
            "USER_AGENT": user_agent,
        })
        injection = "SEQUENTIAL\n" + "".join(f"{r};\n" for r in resources)
        process = SippProcess(
            SippRun(
                name=f"subscriber-{device.id}-{resources[0]}",
                scenario=scenario,
                local_port=free_udp_port(),
                remote=f"{self.sip_host}:{self.sip_port}",
                calls=len(resources),
                auth_user=device.id,
                auth_password=device.password.get_secret_value(),
                injection=injection,
                extra_args=("-r", str(rate)),
            ),
            self._workdir,
        )
        dialogs = _Dialogs(process)
        subscribers = [
            Subscriber(device.id, resource, package, rls, dialogs, number)
            for number, resource in enumerate(resources, start=1)
        ]
        self._groups.append((dialogs, subscribers))
        await process.start()
        async with asyncio.timeout(timeout):
            for subscriber in subscribers:
                await subscriber.wait_accepted(timeout)
        return subscribers

    async def close(self) -> None:
        """Unsubscribe every subscriber (best effort), then stop every SIPp process."""
        for dialogs, subscribers in self._groups:
            results = await asyncio.gather(
                *(s.unsubscribe() for s in subscribers), return_exceptions=True
            )
            for subscriber, result in zip(subscribers, results, strict=True):
                if isinstance(result, Exception):
                    # The PBX may be down on purpose (restart tests).
                    log.info("%r: %s", subscriber, str(result).split("\n")[0])
            await dialogs.process.stop()
        self._groups.clear()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
