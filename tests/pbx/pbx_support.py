"""Helpers shared by the PBX tests (imported as `pbx_support`: pytest puts this
directory on sys.path, and the suite must also run from outside the checkout).

They read the PBX through the neutral port (the same words on every PBX), so one test
states one behaviour for Asterisk and FreeSWITCH alike.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from telephony.config.models import PbxKind
from telephony.engine.engine import Engine
from telephony.port import Key, PbxPort
from telephony.routing.clock import ManualClock
from telephony.testing.phones import Phone

StartEngine = Callable[[datetime], Awaitable[tuple[Engine, ManualClock]]]


async def queue_members(port: PbxPort, queue: str) -> list[str]:
    """Agent ids in a queue, as the PBX reports them (sorted, duplicates kept)."""
    snapshot = await port.snapshot()
    return sorted(m.agent for m in snapshot.members if m.queue == queue)


async def until_members(
    port: PbxPort, queue: str, expected: list[str], timeout: float = 15.0
) -> None:
    """Wait until the queue holds exactly `expected` (sorted agent ids), bounded.

    Polled: not every PBX reports membership changes (mod_callcenter says nothing
    when a tier is added or deleted).
    """
    try:
        async with asyncio.timeout(timeout):
            while (members := await queue_members(port, queue)) != expected:
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(
            f"{queue} held {members}, not {expected}, after {timeout} s"
        ) from None


async def stored_keys(port: PbxPort) -> dict[str, str]:
    """Every key the engine stored in the PBX, as `family/part/...` -> value."""
    snapshot = await port.snapshot()
    return {str(key): value for key, value in snapshot.keys.items()}


def key_names(keys: dict[Key, str]) -> list[str]:
    return sorted(str(key) for key in keys)


async def first_to_ring(phones: Sequence[Phone], timeout: float = 10.0) -> Phone:
    """The phone the PBX rings first for the next call (the others' turns untouched)."""
    waits = {asyncio.ensure_future(p.wait_rang(timeout)): p for p in phones}
    done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    first = next(iter(done))
    first.result()  # a timeout is the test's failure
    return waits[first]


async def between_queue_calls(kind: PbxKind) -> None:
    """Space queue calls as the PBX needs to offer an agent the next one.

    mod_callcenter offers an agent at most one call per wall-clock second (it compares
    whole seconds since the last call ended), so on FreeSWITCH the next call waits for
    the second to turn over; app_queue needs nothing.
    """
    if kind is PbxKind.FREESWITCH:
        await asyncio.sleep(1.0 - time.time() % 1.0 + 0.01)
