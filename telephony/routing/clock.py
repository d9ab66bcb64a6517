"""Injectable clocks: the routing core never reads the time itself."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Something that says what time it is (timezone-aware, UTC) and can wait for a time."""

    def now(self) -> datetime: ...

    async def sleep_until(self, deadline: datetime | None, wake: asyncio.Event) -> None: ...


_MAX_STEP = 30.0


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, deadline: datetime | None, wake: asyncio.Event) -> None:
        # The event loop measures timeouts on a monotonic clock; short steps re-read the
        # wall clock, so a suspend or a clock change cannot make us miss a boundary.
        while deadline is None or self.now() < deadline:
            left = None if deadline is None else (deadline - self.now()).total_seconds()
            step = _MAX_STEP if left is None else min(left, _MAX_STEP)
            try:
                await asyncio.wait_for(wake.wait(), step)
                return
            except TimeoutError:
                pass


class ManualClock:
    """A clock that moves only when told: for tests and simulations."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")
        self._now = start.astimezone(UTC)
        self._moved = asyncio.Event()

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when.astimezone(UTC)
        self._moved.set()

    def advance(self, seconds: float) -> None:
        self.set(self._now + timedelta(seconds=seconds))

    async def sleep_until(self, deadline: datetime | None, wake: asyncio.Event) -> None:
        while deadline is None or self._now < deadline:
            self._moved.clear()
            waiters = {asyncio.ensure_future(wake.wait()), asyncio.ensure_future(self._moved.wait())}
            _done, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            if wake.is_set():
                return
