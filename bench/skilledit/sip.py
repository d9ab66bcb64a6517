"""Every agent's softphone registered from one SIPp process (and un-registered after).

One SIPp "call" per device: an injection CSV gives each call its user, password and
Expires, and SIPp answers the PBX's digest challenge with them. The phones never take
calls here; the engine puts only agents with a registered device in skill queues.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from telephony.config import Site
from telephony.testing.sipp import LOCALHOST, SippProcess, SippRun, free_udp_port

SCENARIO = Path(__file__).with_name("register.xml")


@dataclass(frozen=True, slots=True)
class Registration:
    devices: int
    seconds: float
    exit_code: int | None
    """SIPp's: 0 when every REGISTER got its 200, 1 when some failed."""


async def register_all(
    site: Site, workdir: Path, sip_port: int, *, rate: int, expires: int, timeout: float
) -> Registration:
    """REGISTER every device of the site at `rate` per second (Expires 0 un-registers)."""
    credentials = [
        (d.username, d.password.get_secret_value()) for a in site.agents for d in a.devices
    ]
    local_port = free_udp_port()
    # Generated passwords only: a ";" or "]" in one would break the CSV line.
    csv = "SEQUENTIAL\n" + "".join(
        f"{u};{expires};[authentication username={u} password={p}];"
        + (f"<sip:{u}@{LOCALHOST}:{local_port}>" if expires else "*") + "\n"
        for u, p in credentials
    )
    run = SippRun(
        name="register" if expires else "unregister",
        scenario=SCENARIO.read_text(),
        local_port=local_port,
        remote=f"{LOCALHOST}:{sip_port}",
        calls=len(credentials),
        injection=csv,
        # -l: as many registrations in flight as the rate allows in a few seconds.
        extra_args=("-r", str(rate), "-l", str(rate * 5)),
    )
    process = SippProcess(run, workdir)
    started = time.monotonic()
    await process.start()
    code = await process.wait_exit(timeout)
    if code is None:
        await process.stop()
        raise RuntimeError(f"SIPp {run.name} did not finish within {timeout:g} s\n"
                           f"{process.diagnostics()}")
    return Registration(len(credentials), time.monotonic() - started, code)


async def wait_until(probe: Callable[[], Awaitable[int]], wanted: int, timeout: float) -> int:
    """Poll `probe()` until it reports at least `wanted`; the last count seen."""
    deadline = time.monotonic() + timeout
    seen = await probe()
    while seen < wanted and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        seen = await probe()
    return seen
