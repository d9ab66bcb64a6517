"""The local PBX keeps the engine's stored state across a hard restart, on every kind and
backend (Asterisk from the root file system or a container, FreeSWITCH)."""

from __future__ import annotations

import asyncio
from datetime import datetime

from pbx_support import StartEngine, stored_keys, until_members

from telephony.engine.run import open_port
from telephony.port import Family, Key, PbxPort, PutKey
from telephony.testing.phones import PhoneKit
from telephony.testing.plugin import PbxHandle

# Asterisk commits AstDB writes from a thread at most once a second (main/db.c,
# db_sync_thread), so a real PBX killed at once may lose the last second. Nothing
# tells from outside when the commit happened: give it twice that.
_COMMIT = 2.0


async def test_keys_stored_before_a_kill_are_there_after_the_restart(
    port: PbxPort, pbx: PbxHandle
) -> None:
    await port.apply(PutKey(Key(Family.CASE, ("+46700000999",)), "asa", "restart probe"))
    await asyncio.sleep(_COMMIT)
    await asyncio.to_thread(pbx.kill)
    await asyncio.to_thread(pbx.start_again)
    fresh = await open_port(pbx.site)  # the old connection died with the PBX
    try:
        assert (await stored_keys(fresh)).get("case/+46700000999") == "asa"
    finally:
        await fresh.close()


# Monday 2026-11-23 in Stockholm: Åsa is on intake 08:00-10:00, Björn 10:00-12:00.
BEFORE_SWAP = datetime.fromisoformat("2026-11-23T09:59:00+01:00")
AFTER_SWAP = datetime.fromisoformat("2026-11-23T10:00:00+01:00")


async def test_a_running_engine_reconciles_once_the_pbx_is_back(
    start_engine: StartEngine, pbx: PbxHandle
) -> None:
    _engine, clock = await start_engine(BEFORE_SWAP)
    await asyncio.sleep(_COMMIT)
    await asyncio.to_thread(pbx.kill)
    clock.set(AFTER_SWAP)  # the shift changes while the PBX is down
    await asyncio.to_thread(pbx.start_again)
    fresh = await open_port(pbx.site)
    try:
        # Björn in, Åsa out, nobody twice: the engine's connection came back and re-read.
        await until_members(fresh, "intake", ["bjorn"], timeout=30)
    finally:
        await fresh.close()


async def test_skill_queues_are_staffed_again_once_the_pbx_is_back(
    start_engine: StartEngine, pbx: PbxHandle, phones: PhoneKit
) -> None:
    # The test site's benefits queue wants unemployment at level 3 or more: Åsa (5)
    # rings first, Björn (4) next; both must be registered to be members.
    await phones.register("asa-soft", on_call="answer")
    await start_engine(BEFORE_SWAP)
    await asyncio.to_thread(pbx.kill)
    await asyncio.to_thread(pbx.start_again)
    # Phones register again within their refresh interval; these do it at once. Björn
    # only now: the engine must notice a registration on its new connection too.
    await phones.register("asa-soft", on_call="answer")
    await phones.register("bjorn-soft", on_call="answer")
    fresh = await open_port(pbx.site)
    try:
        await until_members(fresh, "benefits", ["asa", "bjorn"], timeout=30)
        levels = {m.agent: m.level for m in (await fresh.snapshot(["benefits"])).members}
        assert levels == {"asa": 1, "bjorn": 2}
    finally:
        await fresh.close()
