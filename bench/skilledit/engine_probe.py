"""Where an edit's time goes inside the engine: timers around its sync and its port.

The engine and its port are wrapped per instance (nothing in `telephony` changes): every
`Engine.sync()`, `PbxPort.snapshot()` and `PbxPort.apply()` adds its wall time here.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Collection
from dataclasses import dataclass
from typing import Any

from telephony.engine.engine import Engine
from telephony.port import Command, PbxPort, Snapshot


@dataclass
class Tally:
    sync_s: float = 0.0
    snapshot_s: float = 0.0
    apply_s: float = 0.0
    snapshots: int = 0
    full_snapshots: int = 0
    commands: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "sync_ms": round(self.sync_s * 1000, 3),
            "snapshot_ms": round(self.snapshot_s * 1000, 3),
            "apply_ms": round(self.apply_s * 1000, 3),
            "snapshots": self.snapshots,
            "full_snapshots": self.full_snapshots,
            "commands": self.commands,
        }


class Probe:
    """Install with `Probe(engine, port)`; `take()` returns and resets the tally."""

    def __init__(self, engine: Engine, port: PbxPort) -> None:
        self.tally = Tally()
        sync = engine.sync
        snapshot = port.snapshot
        apply = port.apply

        async def timed_sync(queues: frozenset[str] | None = None) -> list[Command]:
            return await self._time("sync_s", sync(queues))

        async def timed_snapshot(queues: Collection[str] | None = None) -> Snapshot:
            self.tally.snapshots += 1
            self.tally.full_snapshots += queues is None
            return await self._time("snapshot_s", snapshot(queues))

        async def timed_apply(command: Command) -> None:
            self.tally.commands += 1
            await self._time("apply_s", apply(command))

        engine.sync = timed_sync  # type: ignore[method-assign]
        port.snapshot = timed_snapshot  # type: ignore[method-assign]
        port.apply = timed_apply  # type: ignore[method-assign]

    async def _time(self, slot: str, work: Awaitable[Any]) -> Any:
        started = time.perf_counter()
        try:
            return await work
        finally:
            setattr(self.tally, slot, getattr(self.tally, slot) + time.perf_counter() - started)

    def take(self) -> Tally:
        tally, self.tally = self.tally, Tally()
        return tally

