"""The feed of presence changes: numbered events, the latest kept for resuming readers.

Event ids increase by one per event and start at the engine's start time in
milliseconds, so the ids of a restarted engine are above the last one's and a reader
resuming from an id of the old engine is told to start over. The last `size` events
are kept: a reader resuming from an id they still cover misses nothing, an older one
gets `None` (start over from the current state).
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

DEFAULT_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class FeedEvent(Generic[T]):
    id: int
    item: T


class Feed(Generic[T]):
    """A bounded ring of numbered events, with waiting for the next one."""

    def __init__(self, first_id: int = 1, size: int = DEFAULT_SIZE) -> None:
        if size < 1:
            raise ValueError("a feed keeps at least one event")
        self._events: deque[FeedEvent[T]] = deque(maxlen=size)
        self._last = first_id - 1
        self._changed = asyncio.Event()

    def __repr__(self) -> str:
        return f"<Feed last_id={self._last} kept={len(self._events)}>"

    @property
    def last_id(self) -> int:
        """The id of the newest event (one below the first id while there is none)."""
        return self._last

    def append(self, item: T) -> FeedEvent[T]:
        self._last += 1
        event = FeedEvent(self._last, item)
        self._events.append(event)
        # Wake every waiter, and let later ones wait on a fresh event.
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        return event

    def since(self, after: int) -> list[FeedEvent[T]] | None:
        """The events after id `after`, oldest first; None when the feed no longer has
        all of them (or never had: an id it never gave out), so the reader must start
        over."""
        oldest = self._events[0].id if self._events else self._last + 1
        if after > self._last or after < oldest - 1:
            return None
        skip = after - (oldest - 1)
        return [e for i, e in enumerate(self._events) if i >= skip]

    async def wait(self, after: int, timeout: float | None = None) -> bool:
        """Wait until there is an event after id `after`; False on the timeout."""
        if self._last > after:
            return True
        changed = self._changed
        try:
            await asyncio.wait_for(changed.wait(), timeout)
        except TimeoutError:
            return self._last > after
        return True
