"""Helpers shared by the PBX tests (imported as `pbx_support`: pytest puts this
directory on sys.path, and the suite must also run from outside the checkout).

They read the PBX through the neutral port (the same words on every PBX), so one test
states one behaviour for Asterisk and FreeSWITCH alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

from telephony.engine.engine import Engine
from telephony.port import Key, PbxPort
from telephony.routing.clock import ManualClock

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
