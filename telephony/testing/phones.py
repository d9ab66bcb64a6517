"""SIP phones, callers and presence watchers for PBX tests, played by SIPp processes.

Each phone is two SIPp processes on 127.0.0.1: a short one that REGISTERs (digest auth,
user = device id) with a Contact pointing at the second, long-lived one, which answers,
rejects or ignores every INVITE that arrives (one SIPp "call" per INVITE, so any number
of calls in sequence). Callers and subscribers are one SIPp process each. Python follows
each process through SIPp's message trace (see `SippProcess`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass
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
    free_media_port,
    free_udp_port,
    render_scenario,
    send_control,
)
from telephony.testing.trace import Direction, SipMessage, uri_user

log = logging.getLogger(__name__)

# Asterisk's default minimum registration expiry is 60 s; tests last far less than this.
REGISTER_EXPIRES = 300
SUBSCRIBE_EXPIRES = 600


_LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")


def loopback_address(match: str) -> str | None:
    """An IPv4 loopback address a test caller can bind inside a trunk's `match_ip`
    network (its first one other than 127.0.0.1, where the phones are), or None."""
    network = ipaddress.ip_network(match, strict=False)
    if not isinstance(network, ipaddress.IPv4Network) or not network.subnet_of(_LOOPBACK):
        return None
    if network.num_addresses == 1:
        return str(network.network_address)
    for address in network.hosts():
        if str(address) != LOCALHOST:
            return str(address)
    return None


class OnCall(StrEnum):
    """What a registered phone does with an incoming call."""

    ANSWER = "answer"
    REJECT = "reject"
    IGNORE = "ignore"


@dataclass(frozen=True, slots=True)
class IncomingCall:
    """An INVITE that reached a phone."""

    call_id: str
    caller: str  # user part of From: the caller's number
    caller_name: str | None  # display name of From, if any
    request_uri: str
    headers: tuple[tuple[str, str], ...]
    body: str

    def header(self, name: str) -> str | None:
        """The first value of a header of the INVITE (case-insensitive)."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    @classmethod
    def from_invite(cls, message: SipMessage) -> IncomingCall:
        from_header = message.header("From") or ""
        display = from_header.split("<", 1)[0].strip().strip('"') if "<" in from_header else ""
        parts = message.start_line.split(" ")
        return cls(
            call_id=message.call_id,
            caller=uri_user(from_header),
            caller_name=display or None,
            request_uri=parts[1] if len(parts) > 1 else "",
            headers=message.headers,
            body=message.body,
        )


def _is_initial_invite(message: SipMessage) -> bool:
    # A re-INVITE carries our To tag; the first INVITE of a call does not.
    return (
        message.direction is Direction.RECEIVED
        and message.method == "INVITE"
        and message.to_tag is None
    )


def _holds(hold_seconds: float | None, label: str = "hangup") -> str:
    if hold_seconds is None:
        return ""
    if hold_seconds < 0:
        raise ValueError("hold_seconds must be >= 0")
    # timeout="0" would mean "no timeout" to SIPp.
    return f'timeout="{max(1, round(hold_seconds * 1000))}" ontimeout="{label}"'


class Phone:
    """A registered SIP phone for one device of the site.

    `wait_rang()` hands out incoming calls one by one, in arrival order; the other
    `wait_*` methods take such a call, or default to the most recent one.

    Hanging up on demand: `await phone.hangup()` sends a control request into the SIPp
    call, which then sends BYE (see scenarios/phone.xml). `hold_seconds` makes the phone
    hang up by itself that long after answering.
    """

    def __init__(self, device: Device, on_call: OnCall, process: SippProcess) -> None:
        self.device_id = device.id
        self.on_call = on_call
        self.port = process.run.local_port
        self._process = process
        self._handed_out = 0
        self._register_call_id: str | None = None

    @property
    def registered(self) -> bool:
        return self._register_call_id is not None and self._process.running

    def __repr__(self) -> str:
        return f"<Phone {self.device_id} {self.on_call.value} 127.0.0.1:{self.port}>"

    @property
    def messages(self) -> list[SipMessage]:
        """Every SIP message the phone sent or received, oldest first."""
        return self._process.messages()

    @property
    def calls(self) -> list[IncomingCall]:
        """Every call (first INVITE) that reached the phone, oldest first."""
        seen: dict[str, IncomingCall] = {}
        for message in self.messages:
            if _is_initial_invite(message) and message.call_id not in seen:
                seen[message.call_id] = IncomingCall.from_invite(message)
        return list(seen.values())

    @property
    def rang_count(self) -> int:
        return len(self.calls)

    async def wait_rang(self, timeout: float = 5.0) -> IncomingCall:
        """Wait for the next call not yet returned by `wait_rang` and return it."""
        index = self._handed_out

        def probe(_: list[SipMessage]) -> IncomingCall | None:
            calls = self.calls
            return calls[index] if len(calls) > index else None

        found = await self._process.wait_for(
            probe, timeout, f"phone {self.device_id} did not ring (call #{index + 1})"
        )
        self._handed_out = index + 1
        return found

    async def wait_answered(
        self, call: IncomingCall | None = None, timeout: float = 5.0
    ) -> IncomingCall:
        """Wait until the phone has answered `call` (200 OK sent to its INVITE)."""
        return await self._wait_call(
            call, timeout, "answer", lambda m: m.direction is Direction.SENT
            and m.status == 200 and m.cseq[1] == "INVITE",
        )

    async def wait_cancelled(
        self, call: IncomingCall | None = None, timeout: float = 5.0
    ) -> IncomingCall:
        """Wait until the caller side cancelled `call` while it rang (CANCEL received)."""
        return await self._wait_call(
            call, timeout, "CANCEL", lambda m: m.direction is Direction.RECEIVED
            and m.method == "CANCEL",
        )

    async def wait_call_ended(
        self, call: IncomingCall | None = None, timeout: float = 10.0
    ) -> IncomingCall:
        """Wait until `call` is over: BYE either way, or a final error response sent."""

        def ended(m: SipMessage) -> bool:
            if m.method == "BYE":
                return True
            status = m.status
            return (
                m.direction is Direction.SENT
                and status is not None
                and status >= 300
                and m.cseq[1] == "INVITE"
            )

        return await self._wait_call(call, timeout, "end of call", ended)

    async def hangup(self, call: IncomingCall | None = None, timeout: float = 5.0) -> None:
        """Hang up an answered call now (BYE from the phone), and wait for it to be sent."""
        target = call or await self._latest_call(timeout)
        # Only once the PBX's ACK is in: before it the scenario waits for the ACK, and
        # SIPp takes the MESSAGE for an unexpected request and drops the call silently.
        await self._wait_call(
            target, timeout, "ACK to its answer",
            lambda m: m.direction is Direction.RECEIVED and m.method == "ACK",
        )
        send_control(self.port, target.call_id, "hangup")
        await self._wait_call(
            target, timeout, "hang up (BYE sent)",
            lambda m: m.direction is Direction.SENT and m.method == "BYE",
        )

    async def _latest_call(self, timeout: float) -> IncomingCall:
        def probe(_: list[SipMessage]) -> IncomingCall | None:
            calls = self.calls
            return calls[-1] if calls else None

        return await self._process.wait_for(
            probe, timeout, f"phone {self.device_id} did not ring"
        )

    async def _wait_call(
        self,
        call: IncomingCall | None,
        timeout: float,
        what: str,
        match: Callable[[SipMessage], bool],
    ) -> IncomingCall:
        def probe(messages: list[SipMessage]) -> IncomingCall | None:
            calls = self.calls
            target = call or (calls[-1] if calls else None)
            if target is None:
                return None
            for message in messages:
                if message.call_id == target.call_id and match(message):
                    return target
            return None

        label = f"call {call.call_id} from {call.caller}" if call else "its latest call"
        return await self._process.wait_for(
            probe, timeout, f"phone {self.device_id}: no {what} for {label}"
        )

    async def _wait_registered(self, remote: str, timeout: float) -> None:
        def verdict(messages: list[SipMessage]) -> SipMessage | None:
            for message in messages:
                status = message.status
                if (
                    message.direction is Direction.RECEIVED
                    and status is not None
                    and status >= 200
                    and message.cseq[1] == "REGISTER"
                    # The first challenge is expected; one to the answer means refusal.
                    and not (status in (401, 407) and message.cseq[0] == 1)
                ):
                    return message
            return None

        what = f"device {self.device_id} could not register at {remote}"
        try:
            answer = await self._process.wait_for(verdict, timeout, what)
        except SipTestError as exc:
            raise SipTestError(f"{exc}\n{self._process.diagnostics()}") from None
        if answer.status != 200:
            why = f"SIP {answer.status} {answer.reason}"
            if answer.status in (401, 407):
                why += " (digest auth refused: wrong password, or no such endpoint)"
            raise SipTestError(f"{what}: {why}\n{self._process.trace_summary()}")
        self._register_call_id = answer.call_id

    async def unregister(self, timeout: float = 3.0) -> None:
        """REGISTER with Contact: * and Expires: 0 so the PBX forgets this phone."""
        call_id = self._register_call_id
        if call_id is None or not self._process.running:
            return
        self._register_call_id = None
        send_control(self.port, call_id, "unregister")

        def gone(messages: list[SipMessage]) -> bool | None:
            for message in messages:
                if (
                    message.direction is Direction.RECEIVED
                    and message.status == 200
                    and message.cseq[1] == "REGISTER"
                    and message.cseq[0] >= 3
                ):
                    return True
            return None

        await self._process.wait_for(
            gone, timeout, f"phone {self.device_id}: un-REGISTER not confirmed"
        )

    async def close(self) -> None:
        """Un-register when possible, then stop the phone's SIPp."""
        try:
            await self.unregister()
        except (SipTestError, SippError) as exc:
            # The PBX may be down on purpose (restart tests): stopping SIPp is what matters.
            log.info("phone %s: un-REGISTER failed: %s", self.device_id, str(exc).split("\n")[0])
        finally:
            await self._process.stop()


class OutboundCall:
    """A call placed by a SIPp caller (trunk caller or a device)."""

    def __init__(self, number: str, caller: str, process: SippProcess, *, authed: bool) -> None:
        self.number = number
        self.caller = caller
        self._process = process
        self._authed = authed

    def __repr__(self) -> str:
        return f"<OutboundCall {self.caller} -> {self.number} status={self.status}>"

    @property
    def messages(self) -> list[SipMessage]:
        return self._process.messages()

    @property
    def call_id(self) -> str | None:
        for message in self.messages:
            if message.direction is Direction.SENT and message.method == "INVITE":
                return message.call_id
        return None

    def _final(self, messages: list[SipMessage]) -> SipMessage | None:
        for message in messages:
            status = message.status
            if (
                message.direction is Direction.RECEIVED
                and status is not None
                and status >= 200
                and message.cseq[1] == "INVITE"
                and not (self._authed and status in (401, 407))
            ):
                return message
        return None

    @property
    def status(self) -> int | None:
        """The final status of the INVITE (200, 486 ...), None while still pending."""
        final = self._final(self.messages)
        return final.status if final else None

    async def wait_ringing(self, timeout: float = 5.0) -> None:
        """Wait for 180 Ringing (or 183) from the PBX."""

        def probe(messages: list[SipMessage]) -> bool | None:
            for message in messages:
                if message.direction is Direction.RECEIVED and message.status in (180, 183):
                    return True
            return None

        await self._process.wait_for(probe, timeout, f"call to {self.number}: no ringing")

    async def wait_answered(self, timeout: float = 10.0) -> None:
        """Wait for 200 OK to the INVITE; fails at once on an error final response."""
        final = await self._wait_final(timeout, "answer")
        if final.status != 200:
            raise SipTestError(
                f"call to {self.number} from {self.caller} was not answered: "
                f"SIP {final.status} {final.reason}\n{self._process.trace_summary()}"
            )

    async def wait_failed(self, timeout: float = 10.0) -> int:
        """Wait for an error final response and return its status code (486, 480 ...)."""
        final = await self._wait_final(timeout, "failure")
        if final.status == 200:
            raise SipTestError(
                f"call to {self.number} from {self.caller} was answered, expected a failure"
            )
        assert final.status is not None
        return final.status

    async def _wait_final(self, timeout: float, what: str) -> SipMessage:
        return await self._process.wait_for(
            self._final, timeout,
            f"call to {self.number} from {self.caller}: no final response ({what} expected)",
        )

    async def wait_ended(self, timeout: float = 15.0) -> None:
        """Wait until the call is over: BYE either way, or an error final response."""

        def probe(messages: list[SipMessage]) -> bool | None:
            final = self._final(messages)
            if final is not None and final.status != 200:
                return True
            if any(m.method == "BYE" for m in messages):
                return True
            return None

        await self._process.wait_for(
            probe, timeout, f"call to {self.number} from {self.caller} did not end",
        )

    async def hangup(self, timeout: float = 5.0) -> None:
        """Hang up now (BYE from the caller) and wait until it is sent."""
        await self.wait_answered(timeout)
        call_id = self.call_id
        assert call_id is not None
        run = self._process.run
        send_control(run.local_port, call_id, "hangup", host=run.local_host)

        def probe(messages: list[SipMessage]) -> bool | None:
            sent = any(m.direction is Direction.SENT and m.method == "BYE" for m in messages)
            return True if sent else None

        await self._process.wait_for(probe, timeout, f"call to {self.number}: BYE not sent")

    async def close(self) -> None:
        await self._process.stop()


class Subscription:
    """A SUBSCRIBE dialog from a device; collects the bodies of the NOTIFYs it gets."""

    def __init__(self, device_id: str, exten: str, event: str, process: SippProcess) -> None:
        self.device_id = device_id
        self.exten = exten
        self.event = event
        self._process = process

    def __repr__(self) -> str:
        return f"<Subscription {self.device_id} -> {self.exten} ({self.event})>"

    @property
    def notifies(self) -> list[SipMessage]:
        """Every NOTIFY received, oldest first (retransmissions included once)."""
        seen: set[tuple[str, int]] = set()
        out: list[SipMessage] = []
        for message in self._process.messages():
            if message.direction is Direction.RECEIVED and message.method == "NOTIFY":
                key = (message.call_id, message.cseq[0])
                if key not in seen:
                    seen.add(key)
                    out.append(message)
        return out

    @property
    def bodies(self) -> list[str]:
        return [message.body for message in self.notifies]

    async def wait_notify(
        self,
        predicate: Callable[[str], bool] | None = None,
        timeout: float = 5.0,
        *,
        new: bool = False,
    ) -> str:
        """Wait for a NOTIFY whose body satisfies `predicate` and return that body.

        Looks at every NOTIFY so far, or with `new=True` only at those arriving later.
        """
        skip = len(self.notifies) if new else 0

        def probe(_: list[SipMessage]) -> str | None:
            for body in self.bodies[skip:]:
                if predicate is None or predicate(body):
                    return body
            return None

        return await self._process.wait_for(
            probe, timeout,
            f"subscription {self.device_id} -> {self.exten}: no matching NOTIFY "
            f"(bodies so far: {self.bodies!r})",
        )

    async def close(self) -> None:
        await self._process.stop()


class PhoneKit:
    """Starts phones, callers and subscribers against one PBX and stops them all at the end.

    `sip_host`/`sip_port` default to 127.0.0.1 and the site's `pbx.sip_port`.
    """

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
        self._phones: list[Phone] = []
        self._closables: list[OutboundCall | Subscription] = []
        self._processes: list[SippProcess] = []

    def __repr__(self) -> str:
        return (
            f"<PhoneKit {self.sip_host}:{self.sip_port} phones={len(self._phones)} "
            f"others={len(self._closables)}>"
        )

    @property
    def remote(self) -> str:
        return f"{self.sip_host}:{self.sip_port}"

    def device(self, device_id: str) -> Device:
        """The site's device with this id (its id is the SIP user name)."""
        for agent in self.site.agents:
            for device in agent.devices:
                if device.id == device_id:
                    return device
        known = ", ".join(d.id for a in self.site.agents for d in a.devices)
        raise SippError(f"no device {device_id!r} in site {self.site.site!r} (known: {known})")

    async def _spawn(self, run: SippRun) -> SippProcess:
        process = SippProcess(run, self._workdir)
        self._processes.append(process)
        await process.start()
        return process

    async def register(
        self,
        device_id: str,
        on_call: OnCall | str = OnCall.ANSWER,
        *,
        answer_after: float = 0.0,
        hold_seconds: float | None = None,
        reject_code: int = 486,
        timeout: float = 10.0,
        expires: int = REGISTER_EXPIRES,
    ) -> Phone:
        """Start a phone for `device_id` and return once the PBX accepted its REGISTER.

        The registration lasts `expires` seconds and is not refreshed: a run longer than
        that (a benchmark) asks for more.

        on_call: "answer" (180, then 200 after `answer_after` s; hang up after
        `hold_seconds` if given, else stay until BYE or `phone.hangup()`), "reject"
        (`reject_code`, default 486 Busy Here) or "ignore" (180, ring until CANCEL).
        Raises SipTestError naming the device and SIP status if registration fails.
        """
        mode = OnCall(on_call)
        device = self.device(device_id)
        if mode is OnCall.REJECT:
            on_invite = render_scenario(
                "phone_reject.xml",
                {"REJECT_CODE": str(reject_code), "REJECT_REASON": _reason(reject_code)},
            )
        else:
            if answer_after < 0:
                raise ValueError("answer_after must be >= 0")
            ring = "" if mode is OnCall.IGNORE else _holds(answer_after, "answer")
            on_invite = render_scenario(
                "phone.xml",
                {"USER": device.id, "RING_ATTRS": ring, "HOLD_ATTRS": _holds(hold_seconds)},
            )
        process = await self._spawn(
            SippRun(
                name=f"phone-{device.id}",
                scenario=render_scenario(
                    "register.xml", {"USER": device.id, "EXPIRES": str(expires)}
                ),
                out_of_call_scenario=on_invite,
                local_port=free_udp_port(),
                remote=self.remote,
                calls=1,
                auth_user=device.id,
                auth_password=device.password.get_secret_value(),
                media_port=free_media_port(),
            )
        )
        phone = Phone(device, mode, process)
        self._phones.append(phone)
        await phone._wait_registered(self.remote, timeout)
        return phone

    async def call(
        self,
        number: str,
        *,
        from_device: str | None = None,
        trunk: str | None = None,
        trunk_header: str | None = None,
        caller_id: str = "+46701234567",
        caller_name: str | None = None,
        hold_seconds: float | None = 2.0,
        headers: tuple[str, ...] = (),
    ) -> OutboundCall:
        """Place a call to `number`@PBX and return at once (await its `wait_*`).

        From a device (`from_device`): From user is the device id and the 401/407 is
        answered with its password; `caller_id` is not used. Otherwise a trunk call
        without auth, From user `caller_id`, as the site's trunk `trunk` would send it
        (default: its first trunk): with the trunk's `match_header`, or else from a
        loopback address in its `match_ip` (127.0.0.2/32, say: every phone is on
        127.0.0.1, so a trunk must be told apart by address). `trunk_header` sends that
        header from 127.0.0.1 instead. The caller hangs up `hold_seconds` after the
        answer (None: stays until BYE or `call.hangup()`).
        """
        extra = list(headers)
        auth_user: str | None = None
        password: str | None = None
        source = LOCALHOST
        if from_device is not None:
            device = self.device(from_device)
            user = device.id
            auth_user = device.id
            password = device.password.get_secret_value()
        else:
            user = caller_id
            if trunk_header is not None:
                header: str | None = trunk_header
            else:
                header, source = self._trunk_origin(trunk)
            if header:
                extra.insert(0, header)
        for line in extra:
            if "\n" in line or "\r" in line or ":" not in line:
                raise ValueError(f"not a single SIP header line: {line!r}")
        display = f'"{caller_name}" ' if caller_name else ""
        scenario = render_scenario(
            "call.xml",
            {
                "NUMBER": number,
                "USER": user,
                "FROM": f"{display}<sip:{user}@{source}>",
                "EXTRA_HEADERS": "\n".join(f"      {line}" for line in extra),
                "HOLD_ATTRS": _holds(hold_seconds),
            },
        )
        process = await self._spawn(
            SippRun(
                name=f"call-{number}",
                scenario=scenario,
                local_port=free_udp_port(source),
                remote=self.remote,
                calls=1,
                auth_user=auth_user,
                auth_password=password,
                media_port=free_media_port(host=source),
                local_host=source,
            )
        )
        call = OutboundCall(number, user, process, authed=auth_user is not None)
        self._closables.append(call)
        return call

    def _trunk_origin(self, trunk_id: str | None) -> tuple[str | None, str]:
        """(header, source address) of a call as the trunk would send it."""
        trunks = [t for t in self.site.trunks if trunk_id is None or t.id == trunk_id]
        if trunk_id is not None and not trunks:
            known = ", ".join(t.id for t in self.site.trunks) or "none"
            raise SippError(f"no trunk {trunk_id!r} in site {self.site.site!r} (known: {known})")
        for candidate in trunks:
            if candidate.match_header:
                return candidate.match_header, LOCALHOST
        for candidate in trunks:
            for match in candidate.match_ip:
                address = loopback_address(match)
                if address is not None:
                    return None, address
        return None, LOCALHOST

    async def subscribe(
        self,
        device_id: str,
        exten: str,
        *,
        event: str = "presence",
        accept: str | None = None,
        timeout: float = 5.0,
    ) -> Subscription:
        """SUBSCRIBE from `device_id` to `exten` and return once the PBX accepted it.

        event "presence" (Accept: application/pidf+xml) or "dialog"
        (application/dialog-info+xml). Every NOTIFY is answered with 200.
        """
        device = self.device(device_id)
        if accept is None:
            accept = {
                "presence": "application/pidf+xml",
                "dialog": "application/dialog-info+xml",
            }.get(event, "application/pidf+xml")
        process = await self._spawn(
            SippRun(
                name=f"subscribe-{device.id}-{exten}",
                scenario=render_scenario(
                    "subscribe.xml",
                    {
                        "USER": device.id,
                        "EXTEN": exten,
                        "EVENT": event,
                        "ACCEPT": accept,
                        "EXPIRES": str(SUBSCRIBE_EXPIRES),
                    },
                ),
                local_port=free_udp_port(),
                remote=self.remote,
                calls=1,
                auth_user=device.id,
                auth_password=device.password.get_secret_value(),
            )
        )
        subscription = Subscription(device.id, exten, event, process)
        self._closables.append(subscription)

        def accepted(messages: list[SipMessage]) -> SipMessage | None:
            for message in messages:
                status = message.status
                if (
                    message.direction is Direction.RECEIVED
                    and status is not None
                    and status >= 200
                    and message.cseq[1] == "SUBSCRIBE"
                    and status not in (401, 407)
                ):
                    return message
            # A NOTIFY can overtake the 200 on UDP; it also proves the subscription.
            for message in messages:
                if message.direction is Direction.RECEIVED and message.method == "NOTIFY":
                    return message
            return None

        answer = await process.wait_for(
            accepted, timeout, f"SUBSCRIBE {device.id} -> {exten} ({event}): no answer"
        )
        if answer.status is not None and answer.status >= 300:
            raise SipTestError(
                f"SUBSCRIBE {device.id} -> {exten} ({event}) refused: "
                f"SIP {answer.status} {answer.reason}\n{process.trace_summary()}"
            )
        return subscription

    async def close(self) -> None:
        """Un-register every phone, then stop every SIPp process this kit started."""
        await asyncio.gather(*(phone.close() for phone in self._phones), return_exceptions=True)
        await asyncio.gather(
            *(process.stop() for process in self._processes), return_exceptions=True
        )
        self._phones.clear()
        self._closables.clear()
        self._processes.clear()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


_REASONS = {
    403: "Forbidden",
    404: "Not Found",
    480: "Temporarily Unavailable",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    500: "Server Internal Error",
    503: "Service Unavailable",
    600: "Busy Everywhere",
    603: "Decline",
}


def _reason(code: int) -> str:
    if not 300 <= code <= 699:
        raise ValueError(f"reject_code must be a SIP error status (300-699), not {code}")
    return _REASONS.get(code, "Rejected")
