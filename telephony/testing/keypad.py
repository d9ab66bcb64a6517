"""A trunk caller who presses a phone key mid-call, for PBX tests of keys a caller
presses while waiting (a skill queue's callback key).

The key goes as SIP INFO (`application/dtmf-relay`, `Signal=<key>`), which trunks and
phones send when in-band or RFC 4733 DTMF is not negotiated. The call is an
`OutboundCall` in everything else, so tests await `wait_answered()`, `wait_ended()` and
`hangup()` on it as on any call the `phones` fixture places.
"""

from __future__ import annotations

from pathlib import Path

from telephony.config import Site
from telephony.testing.phones import OutboundCall, loopback_address
from telephony.testing.sipp import (
    LOCALHOST,
    SippError,
    SippProcess,
    SippRun,
    free_media_port,
    free_udp_port,
    render_scenario,
    send_control,
)
from telephony.testing.trace import Direction, SipMessage

KEYS = frozenset("0123456789*#")


class KeypadCall(OutboundCall):
    """A trunk call that can press its key once (`press()`)."""

    def __init__(self, number: str, caller: str, key: str, process: SippProcess) -> None:
        super().__init__(number, caller, process, authed=False)
        self.key = key

    async def press(self, timeout: float = 5.0) -> None:
        """Press the key now (once per call) and wait until the INFO carrying it is sent;
        the call must be answered first."""
        await self.wait_answered(timeout)
        call_id = self.call_id
        assert call_id is not None
        run = self._process.run
        send_control(run.local_port, call_id, "press", host=run.local_host)

        def sent(messages: list[SipMessage]) -> bool | None:
            for message in messages:
                if message.direction is Direction.SENT and message.method == "INFO":
                    return True
            return None

        await self._process.wait_for(sent, timeout, f"call to {self.number}: key not sent")

    async def wait_key_taken(self, timeout: float = 5.0) -> int:
        """Wait for the PBX's answer to the INFO carrying the key; its status code."""

        def answer(messages: list[SipMessage]) -> int | None:
            for message in messages:
                if (message.direction is Direction.RECEIVED and message.status is not None
                        and message.cseq[1] == "INFO"):
                    return message.status
            return None

        return await self._process.wait_for(
            answer, timeout, f"call to {self.number}: no answer to the key's INFO"
        )


async def call_pressing(
    site: Site,
    workdir: Path,
    number: str,
    key: str,
    *,
    caller_id: str,
    sip_host: str = LOCALHOST,
    sip_port: int | None = None,
    hold_seconds: float | None = None,
) -> KeypadCall:
    """Call `number` from the site's first trunk with an address in 127.0.0.0/8 (as
    `PhoneKit.call` does) with caller number `caller_id`, ready to press `key`; returns
    at once. Close it with `await call.close()`."""
    if key not in KEYS or len(key) != 1:
        raise SippError(f"{key!r} is not a phone key: one of 0-9, * or #")
    source = _trunk_address(site)
    workdir.mkdir(parents=True, exist_ok=True)
    hold = "" if hold_seconds is None else (
        f'timeout="{max(1, round(hold_seconds * 1000))}" ontimeout="hangup"')
    scenario = render_scenario("call_keys.xml", {
        "NUMBER": number,
        "USER": caller_id,
        "FROM": f"<sip:{caller_id}@{source}>",
        "KEY": key,
        "HOLD_ATTRS": hold,
    })
    process = SippProcess(
        SippRun(
            name=f"call-keys-{number}",
            scenario=scenario,
            local_port=free_udp_port(source),
            remote=f"{sip_host}:{sip_port if sip_port is not None else site.pbx.sip_port}",
            calls=1,
            media_port=free_media_port(host=source),
            local_host=source,
        ),
        workdir,
    )
    await process.start()
    return KeypadCall(number, caller_id, key, process)


def _trunk_address(site: Site) -> str:
    for trunk in site.trunks:
        for match in trunk.match_ip:
            address = loopback_address(match)
            if address is not None:
                return address
    raise SippError(f"site {site.site!r} has no trunk with a loopback address to call from")
