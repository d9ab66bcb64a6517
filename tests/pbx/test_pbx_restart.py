"""The local PBX keeps the engine's stored state across a hard restart, on every kind and
backend (Asterisk from the root file system or a container, FreeSWITCH)."""

from __future__ import annotations

import asyncio

from pbx_support import stored_keys

from telephony.engine.run import open_port
from telephony.port import Family, Key, PbxPort, PutKey
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
