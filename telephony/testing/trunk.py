"""The far end of a trunk for PBX tests: a SIPp UAS at the trunk's `dial_host:dial_port`
that answers (or rejects, or ignores) every call the PBX places out through the trunk,
as the public network would deliver it to the called number.

It is a `Phone` in everything but registration (a trunk's far end is dialled by
address), so tests await `wait_rang()`, `wait_answered()`, `wait_call_ended()` and
`hangup()` on it as on any phone; `IncomingCall.request_uri` names the number dialled.
"""

from __future__ import annotations

from pathlib import Path

from telephony.config import Site
from telephony.config.models import Trunk
from telephony.testing.phones import OnCall, Phone
from telephony.testing.sipp import (
    SippError,
    SippProcess,
    SippRun,
    free_media_port,
    render_scenario,
    send_control,
)
from telephony.testing.trace import Direction


def dial_out_trunk(site: Site, trunk_id: str | None = None) -> Trunk:
    """The site's trunk `trunk_id` (default: its first with a dial_host)."""
    for trunk in site.trunks:
        if (trunk_id is None or trunk.id == trunk_id) and trunk.dial_host:
            return trunk
    which = f"trunk {trunk_id!r}" if trunk_id else "trunk"
    raise SippError(f"site {site.site!r} has no {which} with a dial_host to listen at")


class TrunkEnd(Phone):
    """Every call the PBX sends out through one trunk, answered as `on_call` says."""

    def __init__(self, trunk: Trunk, on_call: OnCall, process: SippProcess) -> None:
        # Phone's bookkeeping with the trunk in place of a device; it never registers.
        self.device_id = f"trunk-{trunk.id}"
        self.on_call = on_call
        self.port = process.run.local_port
        self.host = process.run.local_host
        self._process = process
        self._handed_out = 0
        self._register_call_id = None

    def __repr__(self) -> str:
        return f"<TrunkEnd {self.device_id} {self.on_call.value} {self.host}:{self.port}>"

    async def hangup(self, call: object = None, timeout: float = 5.0) -> None:
        """Hang up the latest answered call now (BYE from the far end)."""
        target = await self._latest_call(timeout)
        send_control(self.port, target.call_id, "hangup", host=self.host)
        await self._wait_call(
            target, timeout, "hang up (BYE sent)",
            lambda m: m.direction is Direction.SENT and m.method == "BYE",
        )


async def listen(
    site: Site,
    workdir: Path,
    trunk_id: str | None = None,
    *,
    on_call: OnCall | str = OnCall.ANSWER,
    answer_after: float = 0.0,
    hold_seconds: float | None = None,
) -> TrunkEnd:
    """Start the far end of a trunk (default: the site's first with a dial_host) at its
    dial_host:dial_port. `on_call` as for `PhoneKit.register` ("answer" after
    `answer_after` s, hanging up after `hold_seconds` if given; "ignore"). Close it with
    `await end.close()`."""
    mode = OnCall(on_call)
    if mode is OnCall.REJECT:
        raise SippError("a trunk's far end answers or ignores calls; reject is not scripted")
    trunk = dial_out_trunk(site, trunk_id)
    workdir.mkdir(parents=True, exist_ok=True)
    host = trunk.dial_host or ""
    ring = "" if mode is OnCall.IGNORE else _after(answer_after, "answer")
    process = SippProcess(
        SippRun(
            name=f"trunk-{trunk.id}",
            scenario=render_scenario("phone.xml", {
                "USER": "trunk", "RING_ATTRS": ring,
                "HOLD_ATTRS": "" if hold_seconds is None else _after(hold_seconds, "hangup"),
            }),
            local_port=trunk.dial_port,
            media_port=free_media_port(host=host),
            local_host=host,
        ),
        workdir,
    )
    await process.start()
    return TrunkEnd(trunk, mode, process)


def _after(seconds: float, label: str) -> str:
    if seconds < 0:
        raise ValueError("seconds must be >= 0")
    # timeout="0" would mean "no timeout" to SIPp.
    return f'timeout="{max(1, round(seconds * 1000))}" ontimeout="{label}"'
