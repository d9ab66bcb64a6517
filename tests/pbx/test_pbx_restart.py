"""The local PBX keeps its state across a hard restart, on every backend (rootfs, container)."""

from __future__ import annotations

import asyncio

from telephony.asterisk.ami import AmiClient
from telephony.testing.plugin import PbxHandle

# Asterisk commits AstDB writes from a thread at most once a second (main/db.c,
# db_sync_thread), so a real PBX killed at once may lose the last second. Nothing
# tells from outside when the commit happened: give it twice that.
_ASTDB_COMMIT = 2.0


async def test_astdb_keys_written_before_a_kill_are_there_after_the_restart(
    ami: AmiClient, pbx: PbxHandle
) -> None:
    stored = await ami.send("DBPut", Family="telephony", Key="restart-probe", Val="kept")
    assert stored.success
    await asyncio.sleep(_ASTDB_COMMIT)
    await asyncio.to_thread(pbx.kill)
    await asyncio.to_thread(pbx.start_again)
    out = await asyncio.to_thread(pbx.cli, "database get telephony restart-probe")
    assert "Value: kept" in out
